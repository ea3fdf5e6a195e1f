"""What each ``/api/v1`` route answers, as pydantic models: the OpenAPI document at
``/openapi.json`` (and the docs at ``/api/docs``) shows these typed fields.

The routes send their answers through :class:`~voipwatch.web.responses.FastJSON`
unchanged; these models describe them and are held to them by a test that checks
real answers against the document. The records of the read side (events, cases,
costs, legal context) are msgspec structs; :func:`record_model` derives their models
from the structs themselves, so a field added to a record is documented at once.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Literal, Union

import msgspec
import msgspec.inspect as mi
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.dataclasses import dataclass as pydantic_dataclass

from voipwatch.cases.legal import CountryContext
from voipwatch.cases.model import Case
from voipwatch.cost import CostEstimate
from voipwatch.events import Event
from voipwatch.views import Plain
from voipwatch.views.measurements import (
    MeasurementFacts,
    MeasurementHead,
    Observation,
    RoleVerdict,
)


def _annotation(t: mi.Type) -> object:
    """The Python annotation pydantic reads for a msgspec type (as it encodes to JSON)."""
    simple: dict[type[mi.Type], object] = {
        mi.StrType: str,
        mi.IntType: int,
        mi.FloatType: float,
        mi.BoolType: bool,
        mi.NoneType: None,
        mi.DateTimeType: datetime,
        mi.DateType: date,
        mi.AnyType: Plain,
    }
    if type(t) in simple:
        return simple[type(t)]
    if isinstance(t, mi.Metadata):
        return _annotation(t.type)
    if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        return list[_annotation(t.item_type)]  # type: ignore[misc]
    if isinstance(t, mi.DictType):
        return dict[_annotation(t.key_type), _annotation(t.value_type)]  # type: ignore[misc]
    if isinstance(t, mi.UnionType):
        return Union[tuple(_annotation(u) for u in t.types)]  # noqa: UP007
    if isinstance(t, mi.LiteralType):
        return Literal[tuple(t.values)]
    if isinstance(t, mi.StructType):
        return record_model(t.cls)
    if isinstance(t, mi.CustomType) and t.cls is object:
        return Plain  # an open value (an event's evidence): any JSON
    raise TypeError(f"no JSON schema for {t!r}")


@cache
def record_model(cls: type[msgspec.Struct]) -> type[BaseModel]:
    """The pydantic model of a msgspec record, field for field as it is sent.

    A field the record always writes is required; one it leaves out at its default
    (``omit_defaults``) is not.
    """
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):
        raise TypeError(f"{cls.__name__} is not a record")
    omits = bool(cls.__struct_config__.omit_defaults)
    fields: dict[str, tuple[object, object]] = {}
    for f in info.fields:
        annotation = _annotation(f.type)
        if f.required or not omits:
            fields[f.encode_name] = (annotation, Field(...))
        elif f.default_factory is not msgspec.NODEFAULT:
            fields[f.encode_name] = (annotation, Field(default_factory=f.default_factory))
        else:
            fields[f.encode_name] = (annotation, Field(default=f.default))
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    return create_model(  # type: ignore[call-overload,no-any-return]
        cls.__name__, __doc__=doc or None, __config__=ConfigDict(frozen=True), **fields
    )


# -- the records of the read side ---------------------------------------------------

EventModel = record_model(Event)
CaseModel = record_model(Case)
CostModel = record_model(CostEstimate)
ContextModel = record_model(CountryContext)


class EventAnswer(EventModel):  # type: ignore[valid-type,misc]
    """One event, with its usage surges said in words."""

    corroboration: list[str]


class Page(BaseModel):
    """A page of a list: ``count`` is the whole list's; ``next_url`` the next page's."""

    count: int
    offset: int
    next_url: str | None


class EventPage(Page):
    results: list[EventModel]  # type: ignore[valid-type]


class CasePage(Page):
    results: list[CaseModel]  # type: ignore[valid-type]


# -- measurements ---------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class DbStats(BaseModel):
    """OONI's: rows counted, rows of the table counted from, bytes (not measured: 0)."""

    row_count: int
    bytes: int
    total_row_count: int
    elapsed_seconds: float


class Counts(BaseModel):
    """Counts of one cell: the four measurement counts, or the seven role-status ones
    (with a role axis or filter); each axis of the query names the cell."""

    model_config = ConfigDict(extra="allow")

    measurement_count: int
    anomaly_count: int | None = None
    confirmed_count: int | None = None
    failure_count: int | None = None
    ok_count: int | None = None
    blocked_count: int | None = None
    partial_count: int | None = None
    degraded_count: int | None = None
    down_count: int | None = None
    unknown_count: int | None = None
    verdict_count: int | None = None
    measurement_start_day: str | None = None
    probe_cc: str | None = None
    probe_asn: int | None = Field(
        default=None, description="The network as OONI counts it: a number."
    )
    test_name: str | None = None
    input: str | None = None
    domain: str | None = None
    service: str | None = None
    role: str | None = None
    plane: str | None = None
    technique: str | None = None


class Aggregation(BaseModel):
    """OONI's aggregation answer: one cell without axes, a list of cells with them."""

    v: int
    dimension_count: int
    db_stats: DbStats
    result: Counts | list[Counts]


@pydantic_dataclass(frozen=True)
class MeasurementRow(MeasurementFacts):
    anomaly: bool
    confirmed: bool
    failure: bool
    blocked_roles: list[str]
    measurement_url: str


class PageMetadata(BaseModel):
    """OONI's paging: ``count`` and ``pages`` are -1 while more pages follow."""

    count: int
    current_page: int
    limit: int
    next_url: str | None
    offset: int
    pages: int


class MeasurementPage(BaseModel):
    metadata: PageMetadata
    results: list[MeasurementRow]


class Measurement(BaseModel):
    """One measurement: its metadata, role verdicts, observations and raw document."""

    measurement: MeasurementHead
    verdicts: list[RoleVerdict]
    observations: list[Observation]
    raw_measurement: dict[str, Plain] | None = Field(
        description="The OONI document as it was received (None when unreadable)."
    )
    reading: list[str] = Field(description="The verdicts in plain language.")


class DecidedBy(BaseModel):
    probe_asn: str
    role: str
    blocked_count: int
    judged_count: int


class CurrentRow(BaseModel):
    probe_cc: str
    service: str
    plane: str
    status: str
    lower_bound: float
    baseline: float
    decided_by: DecidedBy | None
    networks_blocked: list[str]
    blocked_count: int
    judged_count: int
    measurement_count: int
    blocked_share: float
    blocked: bool
    first_blocked: str | None
    techniques: list[str]
    target_change_count: int


class Current(BaseModel):
    """The store's last ``days`` days, one row per country, app and plane."""

    since: str | None
    until: str | None
    days: int
    rows: list[CurrentRow]
