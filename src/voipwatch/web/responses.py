"""Response helpers: fast JSON, CSV of any list of records, downloads."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from voipwatch.untrusted import csv_cell
from voipwatch.web.answers import Stored, response_key


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


#: Headers of a drawn response that are kept with it in the cache.
_KEPT = ("content-type", "content-disposition")


def cached_response(request: Request, draw: Callable[[], Response]) -> Response:
    """The response to this URL, drawn once per snapshot of the store.

    A read-only server's store cannot change, a writing server empties the cache
    when it writes, and a live one computes its answers again for each batch (see
    ``Database.follow``), so an answer (a page, an aggregation, a list) is computed
    once and then only sent — gzip-compressed once too, for the clients that accept
    it, and from the next request on by :class:`~voipwatch.web.answers.ServeCached`
    without reaching this route at all.
    """
    db = request.app.state.db

    def store() -> Stored:
        response = draw()
        body = bytes(response.body)
        headers = tuple((k, v) for k, v in response.headers.items() if k.lower() in _KEPT)
        gz = gzip.compress(body, compresslevel=6, mtime=0) if len(body) > 1400 else None
        return Stored.of(response.status_code, headers, body, gz)

    stored: Stored = db.cache.get_or_compute(response_key(request.scope), store)
    headers = dict(stored.headers)
    headers["vary"] = "Accept-Encoding"
    headers["etag"] = stored.etag
    if stored.status == 200 and request.headers.get("if-none-match") == stored.etag:
        return Response(status_code=304, headers=headers)
    if stored.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(stored.gzipped, status_code=stored.status, headers=headers)
    return Response(stored.body, status_code=stored.status, headers=headers)
