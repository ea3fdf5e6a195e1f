"""Derive the dashboard's world map from Natural Earth's 1:110m countries.

Natural Earth (https://www.naturalearthdata.com) is in the public domain. Its
"naturalearth_lowres" layer ships as a test fixture inside the pyogrio wheel on
PyPI; this script reads that shapefile with pyshp and writes a small GeoJSON
(coordinates rounded to 0.1°, Antarctica left out) keyed by ISO 3166 alpha-2 code,
the code OONI's ``probe_cc`` uses:

    pip download --no-deps pyogrio && unzip pyogrio-*.whl 'pyogrio/tests/fixtures/*'
    pip install pyshp pycountry
    python scripts/derive_world_map.py pyogrio/tests/fixtures/naturalearth_lowres/naturalearth_lowres \
        src/voipwatch/web/static/world.geojson
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pycountry
import shapefile  # pyshp

# Natural Earth leaves these without an ISO code (-99) in this layer.
_BY_NAME = {"France": "FR", "Norway": "NO", "Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO"}


def _round(coords: Any) -> Any:
    if isinstance(coords[0], (int, float)):
        return [round(coords[0], 1), round(coords[1], 1)]
    return [_round(c) for c in coords]


def main(src: str, dst: str) -> None:
    reader = shapefile.Reader(src)
    features = []
    for shape_rec in reader.shapeRecords():
        rec = shape_rec.record.as_dict()
        if rec["name"] == "Antarctica":
            continue
        iso3 = rec["iso_a3"]
        country = pycountry.countries.get(alpha_3=iso3) if iso3 != "-99" else None
        code = country.alpha_2 if country else _BY_NAME.get(rec["name"])
        if code is None:
            continue
        geometry = shape_rec.shape.__geo_interface__
        features.append(
            {
                "type": "Feature",
                "id": code,
                "properties": {"cc": code, "name": rec["name"]},
                "geometry": {
                    "type": geometry["type"],
                    "coordinates": _round(geometry["coordinates"]),
                },
            }
        )
    with open(dst, "w") as fh:
        json.dump({"type": "FeatureCollection", "features": features}, fh, separators=(",", ":"))
    print(f"{dst}: {len(features)} countries", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
