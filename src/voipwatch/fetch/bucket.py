"""Anonymous reads of an S3 bucket over plain HTTP(S): listing and downloads.

OONI's bucket is public, so no SDK and no credentials are needed: listing is S3's
``ListObjectsV2`` (a GET returning XML), a download is a GET of the key, resumed
with a ``Range`` header. Any S3-compatible server answers the same requests, which
is how tests point this at a server on loopback.

A download is verified before it takes its final name: its size against the
listing's, and its MD5 against the ETag when the ETag is one (objects uploaded in
one piece; a multipart ETag ends in ``-N`` and only the size can be checked).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from voipwatch.errors import FetchError, InvalidValue

#: OONI's public bucket, addressed virtual-host style.
OONI_ENDPOINT: Final = "https://ooni-data-eu-fra.s3.eu-central-1.amazonaws.com"
OONI_BUCKET: Final = "ooni-data-eu-fra"
_NS: Final = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_MD5: Final = re.compile(r"^[0-9a-f]{32}$")
#: Attempts per request, and the first back-off (doubled each time) for errors that
#: may pass: lost connections, 5xx, 429 and S3's 503 SlowDown.
ATTEMPTS: Final = 4
BACKOFF: Final = 0.5
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class RemoteObject:
    key: str
    size: int
    etag: str

    @property
    def md5(self) -> str | None:
        """The content's MD5 when the ETag is one (single-part uploads)."""
        return self.etag if _MD5.match(self.etag) else None


def bucket_url(endpoint: str | None, bucket: str | None) -> str:
    """The URL keys are appended to: OONI's by default, path style for other endpoints."""
    if endpoint is None:
        if bucket not in (None, OONI_BUCKET):
            return f"https://{bucket}.s3.amazonaws.com"
        return OONI_ENDPOINT
    if not endpoint.startswith(("http://", "https://")):
        raise InvalidValue("endpoint", endpoint, f"{endpoint!r} is not an http:// or https:// URL")
    return f"{endpoint.rstrip('/')}/{bucket or OONI_BUCKET}"


def _retry_after(resp: httpx.Response, default: float) -> float:
    value = resp.headers.get("retry-after", "")
    try:
        return min(max(float(value), 0.0), 60.0)
    except ValueError:
        return default


def _transient(resp: httpx.Response) -> bool:
    return resp.status_code == 429 or resp.status_code >= 500


class Bucket:
    """One bucket, read anonymously through ``client`` (thread-safe; shared by downloads)."""

    def __init__(
        self, url: str, client: httpx.Client, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.url = url.rstrip("/")
        self.client = client
        self.sleep = sleep

    def _get(self, url: str, *, params: dict[str, str] | None = None) -> httpx.Response:
        """GET with retries of what may pass; raises FetchError for the rest."""
        delay = BACKOFF
        for attempt in range(ATTEMPTS):
            try:
                resp = self.client.get(url, params=params)
            except httpx.TransportError as exc:
                if attempt == ATTEMPTS - 1:
                    raise FetchError(f"{url}: {exc.__class__.__name__}: {exc}") from exc
            else:
                if not _transient(resp) or attempt == ATTEMPTS - 1:
                    return resp
                delay = _retry_after(resp, delay)
            self.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def list(self, prefix: str) -> Iterator[RemoteObject]:
        """Every object under ``prefix``, page by page (1000 keys per request)."""
        token: str | None = None
        while True:
            params = {"list-type": "2", "prefix": prefix}
            if token:
                params["continuation-token"] = token
            resp = self._get(self.url + "/", params=params)
            if resp.status_code == 404:
                raise FetchError(f"{self.url}: no such bucket (HTTP 404)")
            if resp.status_code != 200:
                raise FetchError(f"{self.url}: listing {prefix!r} failed: HTTP {resp.status_code}")
            try:
                root = ET.fromstring(resp.content)
            except ET.ParseError as exc:
                raise FetchError(f"{self.url}: listing {prefix!r}: not S3 XML ({exc})") from exc
            for c in root.iter(f"{_NS}Contents"):
                yield RemoteObject(
                    key=c.findtext(f"{_NS}Key") or "",
                    size=int(c.findtext(f"{_NS}Size") or 0),
                    etag=(c.findtext(f"{_NS}ETag") or "").strip('"'),
                )
            token = root.findtext(f"{_NS}NextContinuationToken")
            if root.findtext(f"{_NS}IsTruncated") != "true" or not token:
                return

    def download(self, obj: RemoteObject, dest: Path, on_bytes: Callable[[int], None]) -> int:
        """Fetch ``obj`` to ``dest``, resuming a partial ``.part`` file; verify it.

        Returns the bytes transferred. A file that fails verification is fetched
        again once, whole; a second failure raises FetchError.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        moved = 0
        for attempt in range(2):
            moved += self._fetch_to(obj, part, on_bytes)
            problem = verify(part, obj)
            if problem is None:
                os.replace(part, dest)
                return moved
            part.unlink(missing_ok=True)
            if attempt == 1:
                raise FetchError(f"{self.url}/{obj.key}: {problem} after downloading it twice")
        raise AssertionError("unreachable")

    def _fetch_to(self, obj: RemoteObject, part: Path, on_bytes: Callable[[int], None]) -> int:
        url = f"{self.url}/{obj.key}"
        delay = BACKOFF
        moved = 0
        for attempt in range(ATTEMPTS):
            have = part.stat().st_size if part.exists() else 0
            if have > obj.size:
                part.unlink()
                have = 0
            if have == obj.size and obj.size:
                return moved
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with self.client.stream("GET", url, headers=headers) as resp:
                    if _transient(resp) and attempt < ATTEMPTS - 1:
                        delay = _retry_after(resp, delay)
                        raise _Retry
                    if resp.status_code not in (200, 206):
                        raise FetchError(f"{url}: HTTP {resp.status_code}")
                    mode = "ab" if resp.status_code == 206 else "wb"
                    with part.open(mode) as fh:
                        for chunk in resp.iter_bytes(_CHUNK):
                            fh.write(chunk)
                            moved += len(chunk)
                            on_bytes(len(chunk))
                return moved
            except (_Retry, httpx.TransportError) as exc:
                if attempt == ATTEMPTS - 1:
                    raise FetchError(f"{url}: {exc.__class__.__name__}: {exc}") from exc
            self.sleep(delay)
            delay *= 2
        return moved


class _Retry(Exception):
    """A transient answer: try the request again after a pause."""


def file_md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, obj: RemoteObject) -> str | None:
    """Why the local ``path`` is not a good copy of ``obj``, or ``None`` when it is."""
    try:
        size = path.stat().st_size
    except OSError:
        return "missing"
    if size != obj.size:
        return f"size {size} instead of {obj.size}"
    if obj.md5 is not None and file_md5(path) != obj.md5:
        return "checksum mismatch (MD5 differs from the ETag)"
    return None
