"""The evidence bundle of a country's brief, from the dashboard: ``/bundle/CC.zip``.

The same archive as ``voipwatch report --country CC --bundle FILE.zip``
(:mod:`voipwatch.report.bundle`), built on request and kept in the answer cache; a
reader checks it offline with ``voipwatch verify-bundle``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from voipwatch.report.brief import build_brief
from voipwatch.report.bundle import bundle_files, write_bundle
from voipwatch.report.document import render_html
from voipwatch.web.db import Database

router = APIRouter(include_in_schema=False)


class _Bundle:
    """A built bundle as the answer cache keeps it (``weight`` counts its bytes)."""

    def __init__(self, data: bytes, ident: str) -> None:
        self.data = data
        self.ident = ident
        self.weight = len(data)


@router.get("/bundle/{cc}.zip")
def bundle(request: Request, cc: Annotated[str, Path(pattern=r"^[A-Za-z]{2}$")]) -> Response:
    db: Database = request.app.state.db
    code = cc.upper()

    def build() -> _Bundle:
        import vl_convert

        with db.store() as store:
            brief = build_brief(store, code)
            html = render_html(brief).encode()
            files = bundle_files(store, brief, html, png=vl_convert.svg_to_png)
        return _Bundle(*write_bundle(brief, files))

    built = db.cache.get_or_compute(("bundle", code), build)
    name = f"voipwatch-evidence-{code}-{built.ident}.zip"
    return Response(
        built.data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
