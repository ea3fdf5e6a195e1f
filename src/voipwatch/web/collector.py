"""The collector's HTTP face: OONI's ``/report`` routes over a spool directory.

Enabled by ``create_app(..., collector_spool=DIR)`` (``voipwatch serve
--collector-spool DIR``). Each source address has a budget of requests per minute
and at once (kept in memory only, forgotten first-in first-out; never written);
bodies are capped by :class:`~voipwatch.web.guard.Guard` before they are read. A
measurement is checked whole (:func:`voipwatch.collector.prepare`) before a byte of
it is written, and acknowledged only once it is durably in the spool.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from voipwatch import __version__
from voipwatch.collector import (
    FORMAT,
    Accepted,
    OpenReport,
    Refusal,
    ReportOpened,
    Spool,
    check_open,
    new_report_id,
    prepare,
)
from voipwatch.helper.targets import Budget, Sources
from voipwatch.web.responses import FastJSON

router = APIRouter(tags=["collector"])

#: What one source may ask of the collector: a probe run submits one measurement per
#: test (three requests each: open, submit, close), about fifty requests.
COLLECTOR_BUDGET: Final = Budget(
    requests_per_minute=600, connections_per_minute=0, concurrent_requests=16
)
#: The largest measurement body accepted (a call-plane measurement is well under).
MAX_MEASUREMENT: Final = 2 * 1024 * 1024
#: The largest body of the other collector routes.
MAX_OPEN: Final = 16 * 1024
#: The collector's body caps, for the Guard (checked in order).
COLLECTOR_CAPS: Final = (
    (re.compile(r"^/report/[^/]+$"), MAX_MEASUREMENT),
    (re.compile(r"^/report(/[^/]+/close)?$"), MAX_OPEN),
)


@dataclass
class Collector:
    """What the routes share: the spool and the per-source accounting."""

    spool: Spool
    sources: Sources


class _Submission(msgspec.Struct, frozen=True):
    format: str
    content: msgspec.Raw


def _refuse(status: int, refusal: Refusal, headers: dict[str, str] | None = None) -> Response:
    return FastJSON(msgspec.to_builtins(refusal), status_code=status, headers=headers)


def _refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    schema = msgspec.json.schema(Refusal)["$defs"]["Refusal"]
    return {
        s: {"description": "refused", "content": {"application/json": {"schema": schema}}}
        for s in statuses
    }


def _body(struct: type[msgspec.Struct]) -> dict[str, Any]:
    schema = msgspec.json.schema(struct)["$defs"][struct.__name__]
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_SUBMISSION_SCHEMA: Final = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["format", "content"],
                    "properties": {
                        "format": {"type": "string", "enum": [FORMAT]},
                        "content": {"type": "object", "description": "One OONI measurement."},
                    },
                }
            }
        },
    }
}


def _collector(request: Request) -> Collector:
    found: Collector = request.app.state.collector
    return found


_S = TypeVar("_S", bound=msgspec.Struct)


async def _budgeted(
    request: Request, handle: Callable[[Collector], Awaitable[Response]]
) -> Response:
    c = _collector(request)
    source = request.client.host if request.client else ""
    why = c.sources.begin(source, time.monotonic())
    if why is not None:
        return _refuse(429, Refusal(why, "rate_limited"), {"Retry-After": "60"})
    try:
        return await handle(c)
    finally:
        c.sources.end(source)


def _decode(raw: bytes, typ: type[_S], what: str) -> _S | Refusal:
    try:
        return msgspec.json.decode(raw, type=typ)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return Refusal(f"{what}: {exc}", "bad_request")


@router.post(
    "/report",
    summary="Open a report",
    openapi_extra=_body(OpenReport),
    responses={200: {"description": "opened"}, **_refusals(400, 413, 429)},
)
async def open_report(request: Request) -> Response:
    """Open a report for one test's measurements (OONI's collector protocol)."""

    async def handle(c: Collector) -> Response:
        meta = _decode(await request.body(), OpenReport, "the report's metadata")
        if isinstance(meta, Refusal):
            return _refuse(400, meta)
        refusal = check_open(meta)
        if refusal is not None:
            return _refuse(400, refusal)
        report_id = new_report_id(meta, datetime.now(UTC))
        await run_in_threadpool(c.spool.open_report, report_id, meta)
        answer = ReportOpened(report_id, f"voipwatch {__version__}", [FORMAT])
        return FastJSON(msgspec.to_builtins(answer))

    return await _budgeted(request, handle)


def _unknown(report_id: str) -> Response:
    return _refuse(404, Refusal(f"no report {report_id!r} was opened here", "no_such_report"))


def _closed(report_id: str) -> Response:
    return _refuse(409, Refusal(f"report {report_id!r} is closed: open a new one", "report_closed"))


@router.post(
    "/report/{report_id}",
    summary="Submit a measurement",
    openapi_extra=_SUBMISSION_SCHEMA,
    responses={200: {"description": "kept"}, **_refusals(400, 404, 409, 413, 429)},
)
async def submit(request: Request, report_id: str) -> Response:
    """Submit one measurement to an open report; it is kept once it is acknowledged."""

    async def handle(c: Collector) -> Response:
        state = c.spool.state(report_id)
        if state is None:
            return _unknown(report_id)
        if state == "closed":
            return _closed(report_id)
        sub = _decode(await request.body(), _Submission, "the submission")
        if isinstance(sub, Refusal):
            return _refuse(400, sub)
        if sub.format != FORMAT:
            return _refuse(400, Refusal(f"format {sub.format!r} is not 'json'", "bad_format"))
        try:
            meta = await run_in_threadpool(c.spool.meta, report_id)
        except FileNotFoundError:  # closed since it was looked at
            return _closed(report_id)
        prepared = await run_in_threadpool(prepare, bytes(sub.content), test_name=meta.test_name)
        if isinstance(prepared, Refusal):
            return _refuse(400, prepared)
        # Closed meanwhile: keep nothing a closed report did not have when it closed.
        if c.spool.state(report_id) != "open":
            return _closed(report_id)
        await run_in_threadpool(c.spool.store, prepared)
        return FastJSON(msgspec.to_builtins(Accepted(prepared.uid)))

    return await _budgeted(request, handle)


@router.post(
    "/report/{report_id}/close",
    summary="Close a report",
    responses={200: {"description": "closed"}, **_refusals(404, 413, 429)},
)
async def close(request: Request, report_id: str) -> Response:
    """Close a report; closing a closed report again is not an error."""

    async def handle(c: Collector) -> Response:
        if c.spool.state(report_id) is None:
            return _unknown(report_id)
        await run_in_threadpool(c.spool.close, report_id)
        return FastJSON({})

    return await _budgeted(request, handle)
