"""The documented case: one real-world block as the documenting organisations record it.

A case is what a source says happened — a country, the networks and apps affected, the
kind of block, when, why and under which law — with every source that documented it.
It is the documentary counterpart of a detected :class:`~voipwatch.events.model.Event`;
the registry joins the two.

Dates are days (UTC): the sources record days, sometimes estimated, and the
``*_precision`` fields say how far a date can be trusted.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Literal

import msgspec

from voipwatch.untrusted import web_link

#: ``service_block``: apps (or their servers) blocked, the rest of the Internet works;
#: ``voip_only``: calls blocked, messaging works; ``throttling``: apps slowed, not cut;
#: ``full_shutdown``: the network itself is cut, every app with it; ``platform_ban``: one
#: access platform (a satellite service such as Starlink) banned — its sale, import,
#: licence or use — while every other network works: not an outage.
CaseKind = Literal["service_block", "voip_only", "throttling", "full_shutdown", "platform_ban"]
KINDS: tuple[CaseKind, ...] = (
    "service_block",
    "voip_only",
    "throttling",
    "full_shutdown",
    "platform_ban",
)

#: ``day``: the source gives the day; ``estimated``: the source says the day is an
#: estimate; ``unknown``: no date (only for ends).
Precision = Literal["day", "estimated", "unknown"]

#: What the source says of the end: ``ended`` (with or without a date), ``ongoing``, or
#: ``unknown``.
EndStatus = Literal["ended", "ongoing", "unknown"]

#: Source formats the importers read, and ``voipwatch`` for our own export.
SourceName = Literal["ooni", "stop", "cenalert", "voipwatch"]
SOURCES: tuple[SourceName, ...] = ("ooni", "stop", "cenalert", "voipwatch")

#: Review status an annotation can give a case.
CaseStatus = Literal["unreviewed", "confirmed", "disputed", "rejected"]
STATUSES: tuple[CaseStatus, ...] = ("unreviewed", "confirmed", "disputed", "rejected")


class Block(msgspec.Struct, frozen=True, kw_only=True):
    """What a case and each of its source records say of a block."""

    country: str
    region: str = ""
    operators: list[str] = msgspec.field(default_factory=list)
    apps: list[str] = msgspec.field(default_factory=list)
    other_services: list[str] = msgspec.field(default_factory=list)
    kind: CaseKind
    start: date
    start_precision: Precision = "day"
    end: date | None = None
    end_precision: Precision = "unknown"
    end_status: EndStatus = "unknown"
    title: str = ""
    cause: str = ""
    legal_basis: str = ""
    #: The day the copy of the source that says this was read (its import): a block
    #: documented as ongoing is known to last until here, and is priced "so far" to
    #: here, never to the clock.
    as_of: date | None = None


class SourceRecord(Block, frozen=True, kw_only=True):
    """One record of one source, as imported, normalised to the case's vocabulary.

    ``record_id`` is stable across copies of the same source (OONI's incident id; for
    the sheets, a digest of the columns that identify a row), so importing a newer copy
    updates the record instead of adding a second one.
    """

    source: SourceName
    record_id: str
    asns: list[int] = msgspec.field(default_factory=list)
    #: Who reported it, as the source says (CenAlert's ``source`` column, OONI's authors).
    reported_by: list[str] = msgspec.field(default_factory=list)
    links: list[str] = msgspec.field(default_factory=list)
    #: The services as the source spelled them, for the record.
    services_stated: str = ""
    #: Where it was read from: file and line (1-based; 0 for whole-file formats).
    file: str = ""
    line: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.record_id)


class Annotation(msgspec.Struct, frozen=True, kw_only=True):
    """A note added by a person (CLI or web); later annotations win for status and basis."""

    at: datetime
    note: str = ""
    status: CaseStatus | None = None
    legal_basis: str = ""
    links: list[str] = msgspec.field(default_factory=list)
    author: str = ""


class Case(Block, frozen=True, kw_only=True):
    """A documented block: the merge of every source record about it.

    ``apps`` are service ids of the catalogue (``whatsapp``, ``telegram``, ...). An empty
    list means every app with kind ``full_shutdown`` (or network-wide ``throttling``), the
    calls of every app with ``voip_only``, and messaging apps the sources do not name
    with ``service_block``.
    ``networks`` are ASNs where a source names them, ``operators`` the operator names
    when that is all a source gives. ``events`` are the ids of detected events matched to
    the case, ``annotations`` what people added.
    """

    case_id: str
    networks: list[int] = msgspec.field(default_factory=list)
    status: CaseStatus = "unreviewed"
    sources: list[SourceRecord] = msgspec.field(default_factory=list)
    annotations: list[Annotation] = msgspec.field(default_factory=list)
    events: list[str] = msgspec.field(default_factory=list)

    @property
    def links(self) -> list[str]:
        """Every link of every source and annotation, once, in order."""
        seen: dict[str, None] = {}
        for s in self.sources:
            seen.update(dict.fromkeys(s.links))
        for a in self.annotations:
            seen.update(dict.fromkeys(a.links))
        # A store written before links were checked at import may still hold others.
        return [u for u in seen if web_link(u)]


def case_id_for(record: SourceRecord) -> str:
    """The id a case gets from the record that founded it (stable across imports)."""
    key = f"{record.source}|{record.record_id}"
    return "c" + hashlib.blake2b(key.encode(), digest_size=6).hexdigest()


def record_digest(*parts: str) -> str:
    """A record id for sources without one: a digest of the identifying columns."""
    return hashlib.blake2b("|".join(parts).encode(), digest_size=8).hexdigest()
