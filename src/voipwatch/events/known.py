"""Known changes on the apps' side: the curated list of target changes and outages.

A WhatsApp Web that stops redirecting, a Signal endpoint retired, an app's servers
down for an afternoon: every country's measurements fail at once and no censor did
anything. :func:`load` reads the curated list (``data/known_changes.toml`` shipped
with voipwatch, or a file of the same shape); :func:`explains` says which detected
segments one of them accounts for, so the detector labels them as artefacts however
few countries are measured. A malformed file is refused whole with the file and the
entry that is wrong (:class:`~voipwatch.errors.InputError`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Final

from voipwatch.errors import InputError

KINDS: Final = ("target_change", "outage")
#: A segment is explained when it begins within this many hours of the day a known
#: change began (the day is UTC and the detector dates an onset to the hour).
SLACK_HOURS: Final = 24
_FIELDS: Final = {"date", "end", "app", "role", "kind", "what", "source"}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class KnownChange:
    """One documented change of an app: when, which role, what kind, what and where."""

    day: date
    end: date | None
    app: str
    role: str
    kind: str
    what: str
    source: str

    @property
    def first_hour(self) -> int:
        """The first hour (since the epoch) a segment it explains may begin."""
        return _hours(self.day) - SLACK_HOURS

    @property
    def last_hour(self) -> int:
        """The last hour a segment it explains may begin."""
        return _hours(self.end or self.day) + 24 + SLACK_HOURS

    def as_dict(self) -> dict[str, str | None]:
        return {
            "date": self.day.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            "app": self.app,
            "role": self.role,
            "kind": self.kind,
            "what": self.what,
            "source": self.source,
        }


def _hours(d: date) -> int:
    t = datetime(d.year, d.month, d.day, tzinfo=UTC)
    return int((t - _EPOCH).total_seconds() // 3600)


def shipped() -> str:
    """The text of the list that ships with voipwatch."""
    return (
        resources.files("voipwatch.events")
        .joinpath("data", "known_changes.toml")
        .read_text("utf-8")
    )


def load(path: Path | None = None) -> list[KnownChange]:
    """The known changes of ``path``, or the shipped list when None."""
    if path is None:
        return parse(shipped(), source="known_changes.toml (shipped)")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the known changes: {exc}", source=str(path)) from None
    return parse(text, source=str(path))


def parse(text: str, *, source: str) -> list[KnownChange]:
    """Known changes from TOML text; ``source`` names it in errors."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not TOML: {exc}", source=source) from None
    extra = set(doc) - {"change"}
    if extra:
        raise InputError(
            f"unknown table {sorted(extra)[0]!r}: the file holds [[change]] entries",
            source=source,
        )
    entries = doc.get("change", [])
    if not isinstance(entries, list):
        raise InputError("change must be a list of [[change]] tables", source=source)
    return [_change(e, i, source) for i, e in enumerate(entries, 1)]


def _change(entry: Any, index: int, source: str) -> KnownChange:
    if not isinstance(entry, dict):
        raise InputError(f"change {index} is not a table", source=source)
    unknown = set(entry) - _FIELDS
    if unknown:
        raise InputError(f"change {index}: unknown field {sorted(unknown)[0]!r}", source=source)
    for name in ("date", "app", "role", "kind", "what", "source"):
        if name not in entry:
            raise InputError(f"change {index}: {name} is missing", source=source)
    start, end = _day(entry["date"], "date", index, source), None
    if entry.get("end") is not None:
        end = _day(entry["end"], "end", index, source)
        if end < start:
            raise InputError(f"change {index}: end {end} is before date {start}", source=source)
    texts = {}
    for name in ("app", "role", "kind", "what", "source"):
        value = entry[name]
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"change {index}: {name} must be a non-empty text", source=source)
        texts[name] = value.strip()
    if texts["kind"] not in KINDS:
        raise InputError(
            f"change {index}: kind {texts['kind']!r} is not one of {', '.join(KINDS)}",
            source=source,
        )
    if not texts["role"].startswith(texts["app"] + "/"):
        raise InputError(
            f"change {index}: role {texts['role']!r} is not a role of {texts['app']!r}",
            source=source,
        )
    return KnownChange(start, end, **texts)


def _day(value: Any, name: str, index: int, source: str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InputError(f"change {index}: {name} {value!r} is not a date (YYYY-MM-DD)", source=source)


def explains(
    changes: list[KnownChange], role: str, start: int, end: int | None
) -> KnownChange | None:
    """The known change that accounts for a segment of ``role`` from hour ``start`` to
    ``end`` (None: still failing), if any: it began near the change's day and, for an
    outage with an end, was over by then."""
    for c in changes:
        if c.role != role or not c.first_hour <= start <= c.last_hour:
            continue
        # An outage with an end explains only failures that were over by then.
        over = c.end is None or (
            end is not None and end <= _hours(c.end + timedelta(days=1)) + SLACK_HOURS
        )
        if c.kind == "outage" and not over:
            continue
        return c
    return None
