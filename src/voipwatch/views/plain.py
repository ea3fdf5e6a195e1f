"""Plain JSON values from the typed records the dossiers hold (msgspec structs,
dataclasses): what the API sends, the charts draw and the templates read."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import msgspec
from typing_extensions import TypeAliasType

#: A JSON value, as the faces send it (a named alias, so the API's schema names it).
Plain = TypeAliasType("Plain", "bool | int | float | str | list[Plain] | dict[str, Plain] | None")


def plain(obj: object) -> Plain:
    """``obj`` as JSON values: dates in ISO 8601, records as objects."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    value: Plain = msgspec.to_builtins(obj, builtin_types=(), enc_hook=_enc)
    return value


def plain_object(obj: object) -> dict[str, Plain]:
    """A record as one JSON object (a record that is not one is a programming error)."""
    value = plain(obj)
    if not isinstance(value, dict):
        raise TypeError(f"{type(obj).__name__} is not a record")
    return value


def _enc(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)
