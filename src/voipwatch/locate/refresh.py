"""Replace a location database with a fresh download, atomically.

The file is downloaded next to its destination, checked to open as a MaxMind-format
database, flushed to disk, then renamed over the old one: a probe reading the old
file meanwhile, or a download cut short, never sees half a database.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Final

import httpx

from voipwatch.durable import fsync_dir
from voipwatch.errors import FetchError, LocationDbError
from voipwatch.locate.databases import MaxMindDb

#: Larger than any country/ASN database (GeoLite2-City is ~70 MB).
MAX_BYTES: Final = 512 * 1024 * 1024


def refresh(url: str, dest: Path, *, client: httpx.Client, max_bytes: int = MAX_BYTES) -> int:
    """Download ``url`` to ``dest``; the number of bytes written.

    Raises :class:`FetchError` when the download fails and :class:`LocationDbError`
    when what came is not a database; ``dest`` is then unchanged."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                with client.stream("GET", url, follow_redirects=True) as resp:
                    if resp.status_code != 200:
                        raise FetchError(f"{url}: HTTP {resp.status_code}")
                    for chunk in resp.iter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise FetchError(f"{url}: larger than {max_bytes} bytes")
                        f.write(chunk)
            except httpx.HTTPError as exc:
                raise FetchError(f"{url}: {exc}") from None
            f.flush()
            os.fsync(f.fileno())
        try:
            MaxMindDb(tmp).close()
        except LocationDbError as exc:
            raise LocationDbError(url, exc.reason) from None
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return size
