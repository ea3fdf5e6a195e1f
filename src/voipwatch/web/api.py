"""The JSON API (``/api/v1``): OONI's shapes where OONI has them, plus our tiers.

``/aggregation`` takes OONI's parameters and answers in OONI's shape (see
:mod:`voipwatch.store.aggregate`), with our axes ``service, role, plane, technique``;
``/measurements`` pages like OONI's (``metadata.next_url``). Every list also comes as
CSV (``format=CSV``). Bad input is a 4xx with a message, never OONI's 200-with-error.
"""

from __future__ import annotations

import hmac
from datetime import date
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from voipwatch.cases.legal import load_context
from voipwatch.cases.registry import annotate_case, get_case
from voipwatch.cost import estimate
from voipwatch.errors import UsageError
from voipwatch.store.aggregate import aggregate, parse_asn, parse_query, to_csv
from voipwatch.views import (
    Plain,
    find_event,
    plain,
    plain_object,
    read_cases,
    read_event,
    read_events,
)
from voipwatch.views.measurements import (
    UID_PATTERN,
    current_blocks,
    get_measurement,
    list_measurements,
    parse_filter,
)
from voipwatch.web import params as P
from voipwatch.web import schemas as S
from voipwatch.web.db import Database
from voipwatch.web.reading import reading
from voipwatch.web.render import event_corroboration
from voipwatch.web.responses import (
    FastJSON,
    cached_response,
    csv_response,
    json_response,
    records_csv,
)

router = APIRouter(prefix="/api/v1", default_response_class=FastJSON)

#: The other form of the routes that take ``format=CSV``.
AS_CSV: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
}


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


Db = Annotated[Database, Depends(get_db)]


def _csv(fmt: str) -> bool:
    return fmt.lower() == "csv"


@router.get("/health", summary="Liveness (and the benchmark's baseline)", response_model=S.Health)
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/aggregation",
    summary="Counts shaped like OONI's /api/v1/aggregation",
    response_model=S.Aggregation,
    responses=AS_CSV,
)
def aggregation(
    request: Request,
    db: Db,
    axis_x: P.AxisX = None,
    axis_y: P.AxisY = None,
    time_grain: P.TimeGrain = "auto",
    since: P.Since = None,
    until: P.Until = None,
    probe_cc: P.ProbeCC = None,
    probe_asn: P.ProbeASN = None,
    test_name: P.TestName = None,
    input: P.Input = None,
    domain: P.Domain = None,
    category_code: P.CategoryCode = None,
    service: P.Service = None,
    role: P.Role = None,
    plane: P.Plane = None,
    technique: P.Technique = None,
    format: P.OutFormat = "JSON",
    download: P.Download = False,
) -> Response:
    """OONI's parameters and response; role-level counts when a role axis or filter is used.

    ``result`` is one object without axes and a list with them. The four measurement
    counts (or seven role-status counts) sum to ``measurement_count``
    (``verdict_count``).
    """

    def draw() -> Response:
        if category_code:
            raise UsageError("category_code: voipwatch has no website categories")
        q = parse_query(
            axis_x=axis_x,
            axis_y=axis_y,
            time_grain=time_grain,
            since=since,
            until=until,
            probe_cc=probe_cc,
            probe_asn=probe_asn,
            test_name=test_name,
            input=input,
            domain=domain,
            service=service,
            role=role,
            plane=plane,
            technique=technique,
        )
        answer = db.cached(("aggregation", q), lambda cur: aggregate(cur, q))
        if _csv(format):
            return csv_response(to_csv(answer, q), filename="aggregation.csv", download=download)
        return json_response(answer, filename="aggregation.json" if download else None)

    return cached_response(request, draw)


@router.get(
    "/measurements",
    summary="Measurements, newest first, paged with next_url",
    response_model=S.MeasurementPage,
    responses=AS_CSV,
)
def measurements(
    request: Request,
    db: Db,
    probe_cc: P.ProbeCC = None,
    probe_asn: P.ProbeASN = None,
    test_name: P.TestName = None,
    since: P.Since = None,
    until: P.Until = None,
    input: P.Input = None,
    domain: P.Domain = None,
    report_id: P.ReportId = None,
    status: P.Status = None,
    anomaly: P.Flag = None,
    confirmed: P.Flag = None,
    failure: P.Flag = None,
    service: P.Service = None,
    role: P.Role = None,
    plane: P.Plane = None,
    technique: P.Technique = None,
    verdict_status: P.VerdictStatus = None,
    order: P.Order = "desc",
    offset: P.Offset = 0,
    limit: P.Limit = 100,
    format: P.OutFormat = "JSON",
) -> Response:
    """OONI's list shape: ``metadata`` (``next_url`` while more pages follow) and ``results``."""

    def draw() -> Response:
        f = parse_filter(
            status=status,
            verdict_status=verdict_status,
            report_id=report_id,
            order=order,
            anomaly=anomaly,
            confirmed=confirmed,
            failure=failure,
            probe_cc=probe_cc,
            probe_asn=probe_asn,
            test_name=test_name,
            since=since,
            until=until,
            input=input,
            domain=domain,
            service=service,
            role=role,
            plane=plane,
            technique=technique,
        )
        with db.cursor() as cur:
            rows, more = list_measurements(cur, f, offset=offset, limit=limit)
        base = str(request.base_url).rstrip("/")
        for r in rows:
            r["measurement_url"] = f"{base}/api/v1/measurements/{r['measurement_uid']}"
        if _csv(format):
            return csv_response(records_csv(rows), filename="measurements.csv")
        next_url = None
        if more:
            query = dict(request.query_params)
            query["offset"] = str(offset + limit)
            next_url = f"{base}/api/v1/measurements?{urlencode(query)}"
        done = not more
        return json_response(
            {
                "metadata": {
                    "count": offset + len(rows) if done else -1,
                    "current_page": offset // limit + 1,
                    "limit": limit,
                    "next_url": next_url,
                    "offset": offset,
                    "pages": (offset + len(rows) + limit - 1) // limit if done else -1,
                },
                "results": rows,
            }
        )

    return cached_response(request, draw)


Uid = Annotated[str, Path(pattern=UID_PATTERN, max_length=128)]


@router.get(
    "/measurements/{measurement_uid}",
    summary="One measurement: raw, verdicts, evidence",
    response_model=S.Measurement,
)
def measurement(request: Request, db: Db, measurement_uid: Uid) -> Response:
    """The raw OONI document, every role verdict with its evidence atoms, the observations
    behind them, and a plain-language reading."""

    def draw() -> Response:
        found = db.cached(
            ("measurement", measurement_uid), lambda c: get_measurement(c, measurement_uid)
        )
        if found is None:
            raise HTTPException(404, f"no measurement {measurement_uid!r} in this store")
        return json_response({**plain_object(found), "reading": list[Plain](reading(found))})

    return cached_response(request, draw)


@router.get(
    "/current",
    summary="Current blocks per country, app and plane (the map)",
    response_model=S.Current,
    responses=AS_CSV,
)
def current(
    request: Request,
    db: Db,
    days: P.Days = 7,
    probe_cc: P.ProbeCC = None,
    service: P.Service = None,
    plane: P.Plane = None,
    format: P.OutFormat = "JSON",
) -> Response:
    """Share of blocked role verdicts in the store's last ``days`` days, per cell."""

    def draw() -> Response:
        ccs = tuple(c.upper() for c in (probe_cc or "").split(",") if c)
        svcs = tuple(s for s in (service or "").split(",") if s)
        planes = tuple(p for p in (plane or "").split(",") if p)
        answer = db.cached(
            ("current", days, ccs, svcs, planes),
            lambda cur: current_blocks(cur, days=days, probe_cc=ccs, service=svcs, plane=planes),
        )
        if _csv(format):
            return csv_response(records_csv(answer["rows"]), filename="current.csv")
        return json_response(answer)

    return cached_response(request, draw)


def _list_answer(
    request: Request, items: list[Any], fmt: str, name: str, offset: int, limit: int
) -> Response:
    """A page of a list (``count`` is the whole list's), JSON or CSV."""
    page = [plain_object(x) for x in items[offset : offset + limit]]
    if _csv(fmt):
        return csv_response(records_csv(page), filename=f"{name}.csv")
    next_url = None
    if offset + limit < len(items):
        query = {**request.query_params, "offset": str(offset + limit)}
        next_url = f"{str(request.base_url).rstrip('/')}{request.url.path}?{urlencode(query)}"
    return json_response(
        {"count": len(items), "offset": offset, "next_url": next_url, "results": page}
    )


CC = Annotated[str, Path(pattern=r"^[A-Za-z]{2}$", description="Country code (ISO 3166 alpha-2).")]
OneCC = Annotated[
    str | None, Query(pattern=r"^[A-Za-z]{2}$", description="Country code (ISO 3166 alpha-2).")
]
OneService = Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,64}$", description="App id.")]
Ident = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


@router.get(
    "/events", summary="Detected blocking events", response_model=S.EventPage, responses=AS_CSV
)
def events(
    request: Request,
    db: Db,
    probe_cc: OneCC = None,
    service: OneService = None,
    format: P.OutFormat = "JSON",
    offset: P.Offset = 0,
    limit: P.Limit = 1000,
) -> Response:
    cc = probe_cc.upper() if probe_cc else None
    with db.store() as store:
        found = read_events(store, cc=cc, service=service)
    return _list_answer(request, found, format, "events", offset, limit)


@router.get(
    "/events/{event_id}", summary="One event", response_model=S.EventAnswer, responses=AS_CSV
)
def event(db: Db, event_id: Ident, format: P.OutFormat = "JSON") -> Response:
    with db.store() as store:
        found = find_event(store, event_id)
    if found is None:
        raise HTTPException(404, f"no event {event_id!r} in this store")
    item = plain_object(found)
    # The surges in words, as the event's page and the brief say them.
    item["corroboration"] = list[Plain](event_corroboration(found))
    evidence = item.get("evidence")
    volume = evidence.get("volume") if isinstance(evidence, dict) else None
    if _csv(format) and isinstance(volume, list):
        # A possible shutdown's data is its volume series: that is what its chart draws.
        rows = [r for r in volume if isinstance(r, dict)]
        return csv_response(records_csv(rows), filename=f"volume-{event_id}.csv")
    return _one(item, format, "event")


@router.get("/cases", summary="Documented cases", response_model=S.CasePage, responses=AS_CSV)
def cases(
    request: Request,
    db: Db,
    probe_cc: OneCC = None,
    format: P.OutFormat = "JSON",
    offset: P.Offset = 0,
    limit: P.Limit = 1000,
) -> Response:
    with db.store() as store:
        found = read_cases(store, cc=probe_cc.upper() if probe_cc else None)
    return _list_answer(request, found, format, "cases", offset, limit)


@router.get("/cases/{case_id}", summary="One documented case", response_model=S.CaseModel)
def case(db: Db, case_id: Ident) -> Response:
    with db.store() as store:
        found = get_case(store, case_id)
    if found is None:
        raise HTTPException(404, f"no case {case_id!r} in this store")
    return json_response(plain(found))


class AnnotationIn(BaseModel):
    """What an operator may change on a case."""

    note: str | None = Field(default=None, max_length=10_000)
    status: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$")
    legal_basis: str | None = Field(default=None, max_length=2_000)
    links: list[Annotated[str, Field(max_length=2_000, pattern=r"^https?://\S+$")]] | None = Field(
        default=None, max_length=50
    )


def check_token(request: Request, authorization: str | None) -> None:
    """The operator's token, from ``Authorization: Bearer …``, compared in constant time."""
    expected: str | None = request.app.state.token
    if not expected:
        raise HTTPException(403, "annotations are disabled: the server runs without a token")
    given = ""
    if authorization and authorization[:7].lower() == "bearer ":
        given = authorization[7:].strip()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401, "a valid operator token is required", headers={"WWW-Authenticate": "Bearer"}
        )


@router.post(
    "/cases/{case_id}/annotations",
    summary="Annotate a case (operator token required)",
    status_code=201,
    response_model=S.CaseModel,
)
def annotate(
    request: Request,
    db: Db,
    case_id: Ident,
    body: AnnotationIn,
    authorization: Annotated[str | None, Header(max_length=512)] = None,
) -> Response:
    check_token(request, authorization)
    fields = body.model_dump(exclude_none=True)
    if not fields:
        raise UsageError("nothing to annotate: give a note, status, legal_basis or links")
    with db.writing() as store:
        if get_case(store, case_id) is None:
            raise HTTPException(404, f"no case {case_id!r} in this store")
        try:
            updated = annotate_case(store, case_id, **fields)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    return FastJSON(plain(updated), status_code=201)


@router.get(
    "/cost",
    summary="Economic cost of a block (low / central / high, with inputs)",
    response_model=S.CostModel,
    responses=AS_CSV,
)
def cost(
    db: Db,
    probe_cc: OneCC = None,
    app: OneService = None,
    start: Annotated[date | None, Query(description="First day of the block.")] = None,
    hours: Annotated[float | None, Query(gt=0, le=24 * 366 * 5)] = None,
    networks: P.ProbeASN = None,
    event_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = None,
    format: P.OutFormat = "JSON",
) -> Response:
    """Either ``event_id``, or ``probe_cc``, ``app``, ``start`` and ``hours``.

    CSV is one row: the estimate's figures, its inputs and flags as JSON text."""
    if event_id:
        with db.store() as store:
            dossier = read_event(store, event_id)
        if dossier is None:
            raise HTTPException(404, f"no event {event_id!r} in this store")
        if dossier.cost.value is None:
            raise UsageError(dossier.cost.why or f"event {event_id} is not priced")
        return _one(plain(dossier.cost.value), format, "cost")
    if not (probe_cc and app and start and hours):
        raise UsageError("give event_id, or probe_cc, app, start and hours")
    asns = [parse_asn(a) for a in networks.split(",")] if networks else None
    try:
        est = estimate(probe_cc.upper(), app, start, hours, networks=asns)
    except (KeyError, ValueError) as exc:
        raise UsageError(f"cannot estimate: {exc}") from exc
    return _one(plain(est), format, "cost")


def _one(item: Any, fmt: str, name: str) -> Response:
    if _csv(fmt) and isinstance(item, dict):
        return csv_response(records_csv([item]), filename=f"{name}.csv")
    return json_response(item)


@router.get(
    "/context/{cc}",
    summary="Legal and policy context of a country",
    response_model=S.ContextModel,
)
def context(cc: CC) -> Response:
    found = load_context(cc.upper())
    if found is None:
        raise HTTPException(404, f"no legal context recorded for {cc.upper()}")
    return json_response(plain(found))
