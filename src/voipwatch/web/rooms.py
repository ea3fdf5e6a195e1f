"""What the web reads from the later tiers: events, cases, cost and legal context.

Each is built by its own room; the web only calls their published functions (see
DESIGN.md's package layout). A store may predate a tier (no ``events`` table yet):
the rooms answer that with empty lists. A build without a room raises
:class:`Unavailable`, which the API turns into a 503 naming what is missing.
"""

from __future__ import annotations

import dataclasses
import importlib
from datetime import date, datetime
from types import ModuleType
from typing import Any

import msgspec

from voipwatch.errors import VoipwatchError
from voipwatch.store import Store


class Unavailable(VoipwatchError):
    """A tier the request needs is not part of this build (HTTP 503)."""


def _module(name: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise Unavailable(f"{what} are not available in this voipwatch ({name}: {exc})") from exc


def _function(module: str, name: str, what: str) -> Any:
    fn = getattr(_module(module, what), name, None)
    if fn is None:
        raise Unavailable(f"{what} are not available in this voipwatch ({module}.{name} missing)")
    return fn


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


def load_events(store: Store, *, cc: str | None = None, service: str | None = None) -> list[Any]:
    fn = _function("voipwatch.events.store", "load_events", "events")
    return list(fn(store, cc=cc, service=service))


def get_event(store: Store, event_id: str) -> Any | None:
    for e in load_events(store):
        if e.event_id == event_id:
            return e
    return None


# -- cases -------------------------------------------------------------------------


def list_cases(store: Store, *, cc: str | None = None) -> list[Any]:
    fn = _function("voipwatch.cases.registry", "list_cases", "documented cases")
    return list(fn(store, country=cc))


def get_case(store: Store, case_id: str) -> Any | None:
    fn = _function("voipwatch.cases.registry", "get_case", "documented cases")
    return fn(store, case_id)


def annotate_case(store: Store, case_id: str, **fields: Any) -> Any:
    fn = _function("voipwatch.cases.registry", "annotate_case", "documented cases")
    return fn(store, case_id, **fields)


# -- cost and legal context --------------------------------------------------------


def estimate_cost(
    probe_cc: str,
    app: str,
    start: date,
    hours: float,
    *,
    networks: list[int] | None = None,
) -> Any:
    fn = _function("voipwatch.cost", "estimate", "cost estimates")
    return fn(probe_cc, app, start, hours, networks=networks)


def cost_for_event(event: Any) -> Any:
    return _function("voipwatch.cost", "cost_for_event", "cost estimates")(event)


def load_context(cc: str) -> Any | None:
    return _function("voipwatch.cases.legal", "load_context", "legal contexts")(cc)


def try_(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """``fn(...)`` for a page section, or ``(None, why)`` when its tier is missing."""
    try:
        return fn(*args, **kwargs), None
    except Unavailable as exc:
        return None, str(exc)
    except VoipwatchError as exc:
        return None, str(exc)
