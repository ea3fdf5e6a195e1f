"""The API's documentation people can read: Swagger UI at ``/api/docs``, offline.

The UI's files come from the ``swagger-ui-bundle-v2`` package (Swagger UI 5, which reads
OpenAPI 3.1), so the page loads
nothing from another site (like every page of the server) and works without a
network. It is started by a script of our own (``static/api-docs.js``) pointed at
``/openapi.json``, so the Content-Security-Policy still forbids inline scripts.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from voipwatch.web.headers import CSP

router = APIRouter(include_in_schema=False)

#: The bundle's files the page uses, with their media types; nothing else is served.
FILES: Final = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}

PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>voipwatch API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png">
<script src="/api/docs/swagger-ui-bundle.js" defer></script>
<script src="/api/docs/swagger-ui-standalone-preset.js" defer></script>
<script src="/static/api-docs.js" defer></script>
</head>
<body>
<noscript><p>The interactive documentation needs JavaScript; the API is described
in <a href="/openapi.json">/openapi.json</a>.</p></noscript>
<div id="swagger-ui"></div>
</body>
</html>
"""


#: The server's policy, but Swagger UI sets inline styles on its elements: allowed
#: here, on this page only. Scripts stay our own files; nothing loads from elsewhere.
DOCS_CSP: Final = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


@router.get("/api/docs")
def docs_page() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": DOCS_CSP})


@router.get("/api/docs/{name}")
def docs_file(name: str) -> Response:
    media = FILES.get(name)
    if media is None:
        raise HTTPException(404, f"no documentation file {name!r}")
    data = (swagger_ui_path / name).read_bytes()
    return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=86400"})
