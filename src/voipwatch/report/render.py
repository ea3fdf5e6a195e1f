"""Server-side drawing of the chart specs (for briefs and exports), via vl-convert.

vl-convert embeds Vega-Lite and a JavaScript engine, so nothing is fetched: specs
carry their data inline, and external URLs are refused (``allowed_base_urls=[]``).
"""

from __future__ import annotations

from typing import Any, Final

#: The Vega-Lite release the specs are drawn with on the server.
VL_VERSION: Final = "5.21"


def to_svg(spec: dict[str, Any]) -> str:
    """The chart as an SVG document."""
    import vl_convert

    svg: str = vl_convert.vegalite_to_svg(spec, vl_version=VL_VERSION, allowed_base_urls=[])
    return svg


def to_png(spec: dict[str, Any], *, scale: float = 2.0) -> bytes:
    """The chart as a PNG image, ``scale`` times its nominal size."""
    import vl_convert

    png: bytes = vl_convert.vegalite_to_png(
        spec, vl_version=VL_VERSION, scale=scale, allowed_base_urls=[]
    )
    return png
