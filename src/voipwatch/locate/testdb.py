"""A small MaxMind-format database mapping address ranges to test locations.

For simulated worlds and tests: the simulator maps its client range to the
scenario's test country and network with this, and the probe reads it with the
same code as a real GeoLite2 file (GeoLite2's field names).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet


@dataclass(frozen=True)
class Mapping:
    """``network`` (CIDR) is in country ``cc`` and AS number ``asn`` named ``name``."""

    network: str
    cc: str
    asn: int
    name: str


def write_test_db(path: Path, mappings: Sequence[Mapping]) -> Path:
    """Write the database to ``path`` (IPv6 with IPv4 mapped in, like GeoLite2)."""
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="voipwatch-test-location",
        languages=["en"],
        description="voipwatch test locations (not real)",
    )
    for m in mappings:
        writer.insert_network(
            IPSet([m.network]),
            {
                "country": {"iso_code": m.cc},
                "autonomous_system_number": m.asn,
                "autonomous_system_organization": m.name,
            },
        )
    tmp = path.with_name(f".{path.name}.part")
    writer.to_db_file(str(tmp))
    os.replace(tmp, path)
    return path
