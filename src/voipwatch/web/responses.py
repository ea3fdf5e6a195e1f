"""Response helpers: fast JSON, CSV of any list of records, downloads."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from fastapi.responses import Response


class FastJSON(Response):
    """JSON through orjson (datetimes as ISO 8601, NaN refused by design upstream)."""

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
        return orjson.dumps(value, default=str).decode()
    return value


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
