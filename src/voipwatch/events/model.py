"""The event: what the detector concludes and what cases, cost, the API and briefs read.

Its JSON form (``msgspec.json.encode``) is the object ``voipwatch events --json``
prints, one per line. Times are UTC; the onset and the end each carry the bracket the
data allows (the last measurement before the change and the first after it), because
a claim of "blocked since" is only as precise as the measurements around it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Final, Literal

import msgspec

EventKind = Literal["block", "throttling", "target_change", "outage", "possible_shutdown"]
#: Kinds that are censorship: counted, listed among blocks, priced, matched to cases.
CENSORSHIP: Final = ("block", "throttling")
#: Kinds never counted as blocking, with the reason every face gives for setting them
#: apart.
ARTEFACTS: Final = {
    "target_change": "the app changed: the same part began to fail the same way in most "
    "countries measured at the same time",
    "outage": "the app's servers were down: they failed everywhere at once, on every network alike",
    "possible_shutdown": "the network's measurements stopped: a collapse of measurement "
    "volume says nothing about any one app",
}

#: The plane of the throughput A/B's series and of its ``throttling`` events: the rate
#: of the app's traffic, apart from whether its parts answer at all.
THROUGHPUT: Final = "throughput"
#: Why a throttling event is listed apart from blocks, on every face: interference,
#: but the app still works.
THROTTLED: Final = (
    "the app was slowed, not cut: downloads naming it ran far slower than the same "
    "downloads naming a harmless site, from the same server"
)


def is_artefact(kind: str) -> bool:
    """Whether an event of ``kind`` is an artefact, never counted as blocking."""
    return kind in ARTEFACTS


class Surge(msgspec.Struct, frozen=True, kw_only=True):
    """A rise in circumvention-tool use that coincides with an event (corroboration)."""

    source: str  # the usage series it came from, e.g. "tor-metrics" or a file name
    date: str  # ISO date of the surge
    value: float  # the observed usage
    expected_high: float  # the top of the range the cross-country model expected
    #: The tool whose users these are ("Tor"), when the series says.
    tool: str = ""
    #: The usage a week before, and ``value`` over it (the ratio the detector tests).
    before: float = 0.0
    ratio: float = 0.0


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """A blocking event (or an artefact labelled as such) on one service of one country.

    ``asns`` lists the networks whose series changed; a national roll-up that names
    none has it empty and ``national`` true. ``roles`` are full role names
    (``whatsapp/endpoints``). ``end`` is ``None`` while the event is ongoing.
    """

    event_id: str
    kind: EventKind
    probe_cc: str
    asns: list[int]
    national: bool
    service: str
    roles: list[str]
    plane: str
    techniques: list[str]
    start: datetime
    start_earliest: datetime
    start_latest: datetime
    end: datetime | None
    end_earliest: datetime | None = None
    end_latest: datetime | None = None
    confidence: float
    measurements: int
    blocked_share: float = 0.0
    surges: list[Surge] = msgspec.field(default_factory=list)
    #: Free-form evidence for people and the API: per-network onsets, margins, counts.
    evidence: dict[str, object] = msgspec.field(default_factory=dict)


def event_id(
    kind: str, probe_cc: str, service: str, asns: list[int], start: datetime, plane: str = ""
) -> str:
    """A stable id: the same event found again (or found day by day) keeps its id.

    ``plane`` tells apart events of one service on different planes (its calls and its
    messages) that begin together; without it the id is what it always was.
    """
    key = f"{kind}|{probe_cc}|{service}|{','.join(map(str, sorted(asns)))}|{start.isoformat()}"
    if plane:
        key += f"|{plane}"
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
