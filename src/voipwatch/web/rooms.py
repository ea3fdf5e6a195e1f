"""What the web reads from the later tiers: events, cases, cost and legal context.

Each is built by its own room; the web only calls their published functions (see
DESIGN.md's package layout), typed, imported like any other. A store may predate a
tier (no ``events`` table yet): the rooms answer that with empty lists.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

import msgspec

from voipwatch.cases.legal import CountryContext
from voipwatch.cases.legal import load_context as _load_context
from voipwatch.cases.model import Case
from voipwatch.cases.registry import annotate_case as _annotate_case
from voipwatch.cases.registry import get_case as _get_case
from voipwatch.cases.registry import list_cases as _list_cases
from voipwatch.cost import CostEstimate, estimate
from voipwatch.cost import cost_for_event as _cost_for_event
from voipwatch.errors import VoipwatchError
from voipwatch.events.model import Event
from voipwatch.events.store import load_events as _load_events
from voipwatch.store import Store


class Unavailable(VoipwatchError):
    """A tier the request needs is not part of this build (HTTP 503)."""


def jsonable(obj: Any) -> Any:
    """Plain JSON values from the rooms' records (msgspec structs, dataclasses, dicts)."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        obj = to_dict()
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    return msgspec.to_builtins(obj, builtin_types=(), enc_hook=_enc)


def _enc(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return str(value)


# -- events ------------------------------------------------------------------------


def load_events(store: Store, *, cc: str | None = None, service: str | None = None) -> list[Event]:
    return _load_events(store, cc=cc, service=service)


def get_event(store: Store, event_id: str) -> Event | None:
    for e in load_events(store):
        if e.event_id == event_id:
            return e
    return None


# -- cases -------------------------------------------------------------------------


def list_cases(store: Store, *, cc: str | None = None) -> list[Case]:
    return _list_cases(store, country=cc)


def get_case(store: Store, case_id: str) -> Case | None:
    return _get_case(store, case_id)


def annotate_case(store: Store, case_id: str, **fields: Any) -> Case:
    return _annotate_case(store, case_id, **fields)


# -- cost and legal context --------------------------------------------------------


def estimate_cost(
    probe_cc: str,
    app: str,
    start: date,
    hours: float,
    *,
    networks: list[int] | None = None,
) -> CostEstimate:
    return estimate(probe_cc, app, start, hours, networks=networks)


def cost_for_event(event: Event) -> CostEstimate:
    return _cost_for_event(event)


def load_context(cc: str) -> CountryContext | None:
    return _load_context(cc)


def try_(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """``fn(...)`` for a page section, or ``(None, why)`` when its tier is missing."""
    try:
        return fn(*args, **kwargs), None
    except Unavailable as exc:
        return None, str(exc)
    except VoipwatchError as exc:
        return None, str(exc)
