"""Score detected events against labelled ones, by OONI's event-evaluation protocol.

OONI's ``event_eval`` (ooni/data, branch ``event-validation``) scores a detector on
adjudicated event labels; voipwatch follows it so the figures compare:

* a label is **detected** (a *hit*) when an event of the right kind on the label's
  country, service and networks has its onset inside the label's onset bracket
  widened by the tolerance (24 h) on both sides;
* **latency** runs from the label's earliest onset to when the detector knew
  (the event's ``detected_at`` evidence, else its onset); a negative latency means
  it fired early;
* **false alarms** are block onsets in the quiet 14-day lead-in before each label
  (up to the tolerance before its onset) on the label's series — one series per
  (network, service) — that no other label explains, per quiet series-week;
* **recall** is stratified by size band (national, multi-network, single-network),
  because labelled sets skew to large, famous events;
* **alerts per event** counts the onsets a detected label drew (an alert flood);
* ``throttling`` labels are detected by ``throttling`` events only (their recall is
  ``recall_by_kind``); a block reported on one is counted
  (``throttles_reported_as_block``): a slowed app is not a blocked one;
* ``false_positive_event`` rows (voipwatch's target changes: the app changed, not
  the network) invert the test: a block reported there is counted against the
  detector;
* rows that are not ``scoreable: yes``, have no mechanisms, are disputed or
  superseded, or lie on networks with no measurements are **excluded and counted**,
  never scored as misses.

Pure: labels and events in, a :class:`Report` out.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from voipwatch.catalog import Catalog
from voipwatch.events.labels import Label, label_service, parse_time, size_band
from voipwatch.events.model import Event

TOLERANCE = timedelta(hours=24)
#: The event kind that detects a label of each kind (a block, and an artefact reported
#: as one, otherwise).
OFFENDING = {"shutdown": "possible_shutdown", "throttling": "throttling"}
LEAD_IN = timedelta(days=14)
WEEK = timedelta(days=7)


@dataclass
class Scored:
    """One label's outcome."""

    event_id: str
    kind: str
    band: str
    probe_cc: str
    service: str | None
    onset: datetime
    hit: bool
    latency_hours: float | None = None
    onset_error_hours: float | None = None
    alerts: int = 0
    matched: list[str] = field(default_factory=list)
    title: str = ""


@dataclass
class Report:
    labelled: int
    scored: list[Scored]
    excluded: Counter[str]
    target_changes: list[Scored]
    lead_in_alarms: int
    lead_in_series_weeks: float
    events: int
    unexplained_blocks: list[str]
    #: every (network, service) series over the whole period, for the world-wide rate
    series_weeks: float = 0.0
    notes: list[str] = field(default_factory=list)
    #: throttling labels a block was reported on (a slowed app is not a blocked one)
    throttles_as_blocks: list[str] = field(default_factory=list)
    #: lead-in false alarms per quiet series-week, by the kind of event that raised them
    false_alarms_by_kind: dict[str, float] = field(default_factory=dict)

    @property
    def detected(self) -> int:
        return sum(s.hit for s in self.scored)

    def to_dict(self) -> dict[str, Any]:
        def recall(rows: list[Scored]) -> float | None:
            return round(sum(r.hit for r in rows) / len(rows), 4) if rows else None

        bands = ("national", "multi_network", "single_network")
        extra = sorted({s.band for s in self.scored} - set(bands))
        by_band = {b: [s for s in self.scored if s.band == b] for b in (*bands, *extra)}
        kinds = sorted({s.kind for s in self.scored})
        lat = [s.latency_hours for s in self.scored if s.latency_hours is not None]
        err = [s.onset_error_hours for s in self.scored if s.onset_error_hours is not None]
        hits = [s for s in self.scored if s.hit]
        rate = (
            round(self.lead_in_alarms / self.lead_in_series_weeks, 4)
            if self.lead_in_series_weeks
            else None
        )
        return {
            "labelled": self.labelled,
            "scored": len(self.scored),
            "detected": self.detected,
            "recall": recall(self.scored),
            "recall_by_band": {b: recall(rows) for b, rows in by_band.items()},
            "labelled_by_band": {b: len(rows) for b, rows in by_band.items()},
            "recall_by_kind": {k: recall([s for s in self.scored if s.kind == k]) for k in kinds},
            "labelled_by_kind": {k: sum(s.kind == k for s in self.scored) for k in kinds},
            "false_alarms_per_series_week": rate,
            "false_alarms_by_kind": self.false_alarms_by_kind,
            "lead_in_alarms": self.lead_in_alarms,
            "lead_in_series_weeks": round(self.lead_in_series_weeks, 2),
            "median_latency_hours": round(statistics.median(lat), 2) if lat else None,
            "p90_latency_hours": round(_quantile(lat, 0.9), 2) if lat else None,
            "median_onset_error_hours": round(statistics.median(err), 2) if err else None,
            "alerts_per_event": round(sum(s.alerts for s in hits) / len(hits), 3) if hits else None,
            "target_changes": len(self.target_changes),
            "target_changes_reported_as_block": sum(t.hit for t in self.target_changes),
            "throttles_reported_as_block": len(self.throttles_as_blocks),
            "excluded": sum(self.excluded.values()),
            "excluded_by_reason": dict(sorted(self.excluded.items())),
            "events": self.events,
            "unexplained_block_events": len(self.unexplained_blocks),
            # Events no label explains, per series-week of the whole period: a stricter
            # false-alarm rate than the lead-in one (every quiet week, not only the two
            # before each label), including possible shutdowns.
            "unexplained_per_series_week": round(
                len(self.unexplained_blocks) / self.series_weeks, 4
            )
            if self.series_weeks
            else None,
            "misses": [
                {
                    "event_id": s.event_id,
                    "probe_cc": s.probe_cc,
                    "service": s.service,
                    "band": s.band,
                    "kind": s.kind,
                    "onset": s.onset.isoformat(),
                    "title": s.title,
                }
                for s in self.scored
                if not s.hit
            ],
            "blocks_on_target_changes": [t.event_id for t in self.target_changes if t.hit],
            "per_label": [
                {
                    "event_id": s.event_id,
                    "kind": s.kind,
                    "band": s.band,
                    "hit": s.hit,
                    "latency_hours": s.latency_hours,
                    "onset_error_hours": s.onset_error_hours,
                    "alerts": s.alerts,
                    "events": s.matched,
                }
                for s in [*self.scored, *self.target_changes]
            ],
            "notes": self.notes,
        }


def _quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def _hours(d: timedelta) -> float:
    return round(d.total_seconds() / 3600.0, 2)


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _detected_at(e: Event) -> datetime:
    raw = e.evidence.get("detected_at") if isinstance(e.evidence, dict) else None
    if isinstance(raw, str):
        try:
            t = parse_time(raw)
        except ValueError:
            t = None
        if t is not None:
            return t
    return e.start


@dataclass(frozen=True)
class _Scope:
    """What a label covers: a country, a service (None: any) and its networks."""

    cc: str
    service: str | None
    asns: frozenset[int]  # empty: every network of the country
    roles: frozenset[str] = frozenset()  # empty: any role of the service

    def matches(self, e: Event) -> bool:
        if e.probe_cc != self.cc:
            return False
        if self.service is not None and e.service != self.service:
            return False
        if self.roles and e.roles and not self.roles & {_role(r) for r in e.roles}:
            # Another part of the app (its calls, say, where the label is about its
            # messages): a different series, another label's business.
            return False
        return not self.asns or not e.asns or bool(self.asns & set(e.asns))

    def series_of(self, e: Event, networks: list[int]) -> set[int]:
        """The networks (series) of this scope an event fired on."""
        mine = set(self.asns) or set(networks)
        return mine if not e.asns else mine & set(e.asns)


def _role(name: str) -> str:
    """``service/role``, however many times the service is repeated in front."""
    return "/".join(name.split("/")[-2:])


def _exclusion(label: Label) -> str | None:
    if label.superseded_by:
        return "superseded"
    if label.event_class == "disputed":
        return "disputed"
    if label.event_class not in ("true_event", "false_positive_event"):
        return f"event_class {label.event_class!r}"
    if label.scoreable != "yes":
        return f"scoreable={label.scoreable}"
    if not label.mechanisms:
        return "no mechanisms"
    if not label.probe_cc:
        return "no country"
    if parse_time(label.onset_earliest) is None:
        return "no onset"
    return None


def _span(
    label: Label, networks: dict[str, list[int]] | None, catalog: Catalog
) -> tuple[Label, _Scope, datetime, datetime, datetime | None] | None:
    """(label, scope, onset bracket, latest end) of a label with a country and an onset."""
    onset0 = parse_time(label.onset_earliest)
    if onset0 is None or not label.probe_cc:
        return None
    onset1 = parse_time(label.onset_latest) or onset0
    end = parse_time(label.resolution_latest) or parse_time(label.resolution_earliest)
    asns: frozenset[int] = frozenset()
    if label.asn_scope_kind == "listed":
        asns = frozenset(label.asn_scope)
        if networks is not None:
            asns = asns & frozenset(networks.get(label.probe_cc, []))
    roles = frozenset(_role(r) for r in label.roles)
    scope = _Scope(label.probe_cc, label_service(label, catalog), asns, roles)
    return label, scope, min(onset0, onset1), max(onset0, onset1), end


def score(
    labels: list[Label],
    events: list[Event],
    *,
    catalog: Catalog,
    networks: dict[str, list[int]] | None = None,
    data_start: datetime | None = None,
    data_end: datetime | None = None,
    tolerance: timedelta = TOLERANCE,
    lead_in: timedelta = LEAD_IN,
) -> Report:
    """Score ``events`` against ``labels`` (a label's service is read with ``catalog``
    where the label does not name it).

    ``networks``: the networks measured per country (from the store). A label whose
    country or listed networks have no measurements is excluded as
    ``no coverage``; without it, coverage is not checked. ``data_start`` clips
    lead-ins to the data there is.
    """
    events = [
        msgspec.structs.replace(e, start=_utc(e.start)) if e.start.tzinfo is None else e
        for e in events
    ]
    excluded: Counter[str] = Counter()
    notes: list[str] = []
    prepared: list[tuple[Label, _Scope, datetime, datetime, datetime | None]] = []
    # Every label with a country and an onset explains the events on it, scored or not
    # (an event on a label without coverage is no false alarm).
    spans: list[tuple[Label, _Scope, datetime, datetime, datetime | None]] = []
    for label in labels:
        span = _span(label, networks, catalog)
        if span is not None:
            spans.append(span)
        why = _exclusion(label)
        if (
            why is None
            and span is not None
            and span[1].service is None
            and label.kind != "shutdown"
        ):
            why = "not about a service voipwatch measures"
        if (
            why is None
            and span is not None
            and data_start is not None
            and data_end is not None
            and (span[3] + tolerance < data_start or span[2] - tolerance > data_end)
        ):
            why = "no coverage"
            notes.append(f"{label.event_id}: its onset is outside the data's period")
        if why is None and networks is not None:
            known = networks.get(label.probe_cc, [])
            if not known:
                why = "no coverage"
                notes.append(f"{label.event_id}: no measurements from {label.probe_cc}")
            elif label.asn_scope_kind == "listed" and label.asn_scope:
                unknown = sorted(set(label.asn_scope) - set(known))
                if len(unknown) == len(set(label.asn_scope)):
                    why = "no coverage"
                if unknown:
                    names = ", ".join(f"AS{a}" for a in unknown)
                    notes.append(f"{label.event_id}: no measurements from {names}")
        if why is not None or span is None:
            excluded[why or "no onset"] += 1
            continue
        prepared.append(span)

    def offending(label: Label) -> str:
        return OFFENDING.get(label.kind, "block")

    def explained(e: Event) -> bool:
        """An onset some label accounts for (its hit window, or its whole span)."""
        for label, scope, o0, _o1, end in spans:
            if e.kind != offending(label) or not scope.matches(e):
                continue
            last = (end or data_end or e.start) + tolerance
            if o0 - tolerance <= e.start <= last:
                return True
        return False

    scored: list[Scored] = []
    changes: list[Scored] = []
    throttles_as_blocks: list[str] = []
    weeks_by_kind: defaultdict[str, float] = defaultdict(float)
    alarms_by_kind: defaultdict[str, set[tuple[str, str, int, str | None]]] = defaultdict(set)
    alarms: set[tuple[str, str, int, str | None]] = set()
    series_weeks = 0.0
    for label, scope, o0, o1, end in prepared:
        kind = offending(label)
        lo, hi = o0 - tolerance, o1 + tolerance
        candidates = [e for e in events if e.kind == kind and scope.matches(e)]
        if label.kind == "throttling":
            # A slowed app called blocked overstates the evidence: counted against it.
            as_block = [
                e for e in events if e.kind == "block" and scope.matches(e) and lo <= e.start <= hi
            ]
            if as_block:
                throttles_as_blocks.append(label.event_id)
        hits = sorted((e for e in candidates if lo <= e.start <= hi), key=lambda e: e.start)
        s = Scored(
            event_id=label.event_id,
            kind=label.kind if label.event_class == "true_event" else "target_change",
            band=size_band(label),
            probe_cc=label.probe_cc,
            service=scope.service,
            onset=o0,
            hit=bool(hits),
            matched=[e.event_id for e in hits],
            title=label.title,
        )
        if label.event_class == "false_positive_event":
            changes.append(s)
            continue
        if hits:
            s.latency_hours = _hours(min(_detected_at(e) for e in hits) - o0)
            s.onset_error_hours = _hours(hits[0].start - o0)
            last = (end or data_end or hi) + tolerance
            s.alerts = sum(1 for e in candidates if lo <= e.start <= last)
        scored.append(s)
        # The quiet lead-in before this label, on its own series.
        nets = networks.get(label.probe_cc, []) if networks is not None else []
        n_series = len(scope.asns or set(nets)) or 1
        lead_lo = o0 - lead_in
        if data_start is not None:
            lead_lo = max(lead_lo, data_start)
        lead_hi = o0 - tolerance
        if lead_hi <= lead_lo:
            continue
        series_weeks += n_series * ((lead_hi - lead_lo) / WEEK)
        weeks_by_kind[kind] += n_series * ((lead_hi - lead_lo) / WEEK)
        for e in candidates:
            if lead_lo <= e.start < lead_hi and not explained(e):
                for asn in scope.series_of(e, nets) or {0}:
                    alarms.add((e.event_id, e.probe_cc, asn, scope.service))
                    alarms_by_kind[kind].add((e.event_id, e.probe_cc, asn, scope.service))
    # Events no label explains, in the countries the scored labels cover (elsewhere the
    # labels say nothing), per series-week of the whole period.
    countries = {sc.cc for _, sc, *_ in prepared}
    unexplained = [
        e.event_id
        for e in events
        if e.kind in ("block", "throttling", "possible_shutdown")
        and e.probe_cc in countries
        and not explained(e)
    ]
    services = {sc.service for _, sc, *_ in spans if sc.service and sc.cc in countries}
    series_all = 0.0
    if networks is not None and data_start is not None and data_end is not None:
        n_nets = sum(len(v) for cc, v in networks.items() if cc in countries)
        series_all = n_nets * max(len(services), 1) * ((data_end - data_start) / WEEK)
    return Report(
        labelled=len(labels),
        scored=scored,
        excluded=excluded,
        target_changes=changes,
        lead_in_alarms=len(alarms),
        lead_in_series_weeks=series_weeks,
        events=len(events),
        unexplained_blocks=unexplained,
        series_weeks=series_all,
        notes=notes,
        throttles_as_blocks=throttles_as_blocks,
        false_alarms_by_kind={
            k: round(len(alarms_by_kind[k]) / w, 4) for k, w in sorted(weeks_by_kind.items()) if w
        },
    )
