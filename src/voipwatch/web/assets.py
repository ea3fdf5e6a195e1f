"""The charts' JavaScript: Vega, Vega-Lite and Vega-Embed, bundled by vl-convert.

The installed ``vl-convert-python`` package carries these libraries; its
``javascript_bundle()`` builds one script from them (a few seconds the first time),
which is cached on disk per vl-convert version so later servers start at once.
Nothing is fetched from the network and no JavaScript is copied into this project.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Final

import platformdirs

#: The Vega-Lite release the browser draws with: the one the server-side renderer
#: of the briefs uses, so a chart looks the same on the page and in a PDF.
VL_VERSION: Final = "5.21"

#: The bundle's entry: the three libraries as globals, for ``static/app.js``.
_GLOBALS: Final = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"

_lock = threading.Lock()
_bundle: tuple[bytes, str] | None = None


def _cache_path() -> Path:
    import vl_convert

    version = getattr(vl_convert, "__version__", "unknown")
    name = f"vega-bundle-{version}-vl{VL_VERSION}.js"
    return platformdirs.user_cache_path("voipwatch", appauthor=False) / name


def vega_bundle() -> tuple[bytes, str]:
    """The bundle's bytes and an ETag for it (built once per machine, then read)."""
    global _bundle
    with _lock:
        if _bundle is None:
            path = _cache_path()
            try:
                data = path.read_bytes()
            except OSError:
                data = _build()
                _save(path, data)
            _bundle = (data, hashlib.blake2b(data, digest_size=12).hexdigest())
        return _bundle


def _build() -> bytes:
    import vl_convert

    text: str = vl_convert.javascript_bundle(_GLOBALS, vl_version=VL_VERSION)
    return text.encode()


def _save(path: Path, data: bytes) -> None:
    """Write atomically; a cache that cannot be written only costs the next start time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vega-bundle-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        pass
