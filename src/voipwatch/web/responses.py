"""Response helpers: fast JSON, CSV of any list of records, downloads."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from voipwatch.untrusted import csv_cell


class FastJSON(JSONResponse):
    """JSON through orjson (datetimes as ISO 8601, NaN refused by design upstream).

    A :class:`JSONResponse`, so the API's document gives each route the schema of its
    ``response_model`` (FastAPI documents any other response class as a string).
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS, default=str)


def records_csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """CSV of ``rows``: columns in first-seen order; lists and objects as JSON text."""
    if columns is None:
        seen: dict[str, None] = {}
        for r in rows:
            seen.update(dict.fromkeys(r))
        columns = list(seen)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return csv_cell(orjson.dumps(value, default=str).decode())
    return csv_cell(value)


def csv_response(text: str, *, filename: str, download: bool = True) -> Response:
    headers = {}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


def json_response(content: Any, *, filename: str | None = None) -> Response:
    headers = {}
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return FastJSON(content, headers=headers)


@dataclass(frozen=True, slots=True)
class _Stored:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    gzipped: bytes | None

    @property
    def weight(self) -> int:
        """What it costs the cache (see ``AnswerCache``'s byte limit)."""
        return len(self.body) + len(self.gzipped or b"")


#: Headers of a drawn response that are kept with it in the cache.
_KEPT = ("content-type", "content-disposition")


def cached_response(request: Request, draw: Callable[[], Response]) -> Response:
    """The response to this URL, drawn once while the store is unchanged.

    A read-only server's store cannot change and a writing server empties the cache
    when it writes, so an answer (a page, an aggregation, a list) is computed once and
    then only sent — gzip-compressed once too, for the clients that accept it.
    """
    db = request.app.state.db

    def store() -> _Stored:
        response = draw()
        body = bytes(response.body)
        headers = tuple((k, v) for k, v in response.headers.items() if k.lower() in _KEPT)
        gz = gzip.compress(body, compresslevel=6, mtime=0) if len(body) > 1400 else None
        return _Stored(response.status_code, headers, body, gz)

    key = ("response", str(request.base_url), request.url.path, request.url.query)
    stored: _Stored = db.cache.get_or_compute(key, store)
    headers = dict(stored.headers)
    headers["vary"] = "Accept-Encoding"
    if stored.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(stored.gzipped, status_code=stored.status, headers=headers)
    return Response(stored.body, status_code=stored.status, headers=headers)
