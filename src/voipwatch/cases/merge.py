"""Merging source records into cases: one real-world block, every source that documents it.

Two records from different sources are the same block when they name the same country,
their apps agree (they share an app; or neither names one and they are the same kind,
e.g. two VoIP bans or two full shutdowns), their regions do not contradict each other,
and their onsets are at most :data:`ONSET_TOLERANCE` apart — the rule the CenAlert
authors used to merge their own sources. One widening, found by reading the samples:
a report up to :data:`LATE_REPORT_TOLERANCE` after another, while the block the first
describes is still in force (no end, or an end on or after the later onset), is the
same block seen late (Iran's Telegram block of 2017-12-30 reported from 2018-01-01,
Mozambique's WhatsApp block of 2024-10-26 in OONI's data from 10-29).

Records of one source never merge with each other: a source's distinct rows are
distinct blocks by its own account (repeats within a source are folded by its
importer). CenAlert is a list of other lists, so its rows reported by disjoint
organisations are separate reports and may merge.

The result does not depend on the order of import: records are clustered in a fixed
order (OONI first, whose records carry networks, then STOP, CenAlert, hand-made cases),
and a case keeps the id it had before whenever its records were already filed under it,
so annotations stay with their case when a newer copy of a source is imported.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from voipwatch.cases.model import Case, CaseStatus, EndStatus, SourceRecord, case_id_for

ONSET_TOLERANCE = timedelta(days=1)
LATE_REPORT_TOLERANCE = timedelta(days=3)
#: Clustering order; also the order in which a case's fields are taken from its sources.
SOURCE_ORDER = {"ooni": 0, "stop": 1, "cenalert": 2, "voipwatch": 3}
#: Sources whose ``cause`` says most of why (STOP records cause, justification, orderer).
CAUSE_ORDER = {"stop": 0, "cenalert": 1, "voipwatch": 2, "ooni": 3}


def _order(r: SourceRecord) -> tuple[int, str, str]:
    return (SOURCE_ORDER.get(r.source, 9), r.start.isoformat(), r.record_id)


#: Words that say what kind of place a region is, not which one.
_PLACE_WORDS = frozenset(
    [
        "district",
        "districts",
        "region",
        "regions",
        "province",
        "provinces",
        "state",
        "states",
        "city",
        "cities",
        "block",
        "blocks",
        "area",
        "areas",
        "division",
        "sub-division",
        "subdivision",
        "county",
        "counties",
        "township",
        "townships",
        "village",
        "villages",
        "parts",
        "part",
        "some",
        "several",
        "other",
        "and",
        "the",
        "of",
        "in",
    ]
)


def _region_words(region: str) -> set[str]:
    words = region.lower().replace(",", " ").replace("(", " ").replace(")", " ").split()
    return {w for w in words if len(w) > 2 and w not in _PLACE_WORDS}


def same_stream(a: SourceRecord, b: SourceRecord) -> bool:
    """Whether two records come from one source's own account (and so never merge)."""
    if a.source != b.source:
        return False
    return a.source != "cenalert" or bool(set(a.reported_by) & set(b.reported_by))


def onsets_agree(a: SourceRecord, b: SourceRecord) -> bool:
    gap = abs(a.start - b.start)
    if gap <= ONSET_TOLERANCE:
        return True
    if gap > LATE_REPORT_TOLERANCE:
        return False
    early, late = (a, b) if a.start <= b.start else (b, a)
    return early.end is None or early.end >= late.start


def compatible(a: SourceRecord, b: SourceRecord) -> bool:
    """Whether two records of different sources may describe the same block."""
    if a.country != b.country or same_stream(a, b):
        return False
    if not onsets_agree(a, b):
        return False
    if a.apps or b.apps:
        if not set(a.apps) & set(b.apps):
            return False
    elif a.kind != b.kind:
        return False
    # Two named sub-national regions that share no word are two blocks (Indian
    # district shutdowns on the same day); a national record agrees with any region.
    return not (a.region and b.region and not _region_words(a.region) & _region_words(b.region))


def cluster(records: list[SourceRecord]) -> list[list[SourceRecord]]:
    """Group records into blocks; each group in :data:`SOURCE_ORDER`, groups by onset."""
    groups: list[list[SourceRecord]] = []
    # Per country and onset day, the groups with a member starting that day: a record
    # only has to be compared with the groups of the days within the tolerance.
    by_day: dict[tuple[str, date], list[list[SourceRecord]]] = {}
    reach = LATE_REPORT_TOLERANCE.days
    for r in sorted(records, key=_order):
        best: list[SourceRecord] | None = None
        best_gap: timedelta | None = None
        near: dict[int, list[SourceRecord]] = {}
        for d in range(-reach, reach + 1):
            for g in by_day.get((r.country, r.start + timedelta(days=d)), []):
                near[id(g)] = g
        for g in near.values():
            if not all(compatible(r, m) for m in g):
                continue
            gap = min(abs(r.start - m.start) for m in g)
            if best_gap is None or gap < best_gap:
                best, best_gap = g, gap
        if best is None:
            best = []
            groups.append(best)
        best.append(r)
        day_groups = by_day.setdefault((r.country, r.start), [])
        if not any(g is best for g in day_groups):
            day_groups.append(best)
    groups.sort(key=lambda g: (min(m.start for m in g), g[0].country, g[0].record_id))
    return groups


def case_of(
    members: list[SourceRecord], case_id: str, *, status: CaseStatus = "unreviewed"
) -> Case:
    """The case a group of records documents: the union of what they say."""
    ordered = sorted(members, key=_order)
    first = ordered[0]
    starts = sorted(ordered, key=lambda r: (r.start, SOURCE_ORDER.get(r.source, 9)))
    # The end from the first source that dates it to the day (OONI's is measured), else
    # any; not the latest of all, which would stretch the block to its vaguest report.
    ends = [r for r in ordered if r.end is not None]
    dated = [r for r in ends if r.end_precision == "day"] or ends
    last_end = dated[0] if dated else None
    end_status: EndStatus
    if any(r.end_status == "ongoing" for r in ordered) and last_end is None:
        end_status = "ongoing"
    elif last_end is not None or any(r.end_status == "ended" for r in ordered):
        end_status = "ended"
    else:
        end_status = "unknown"
    by_cause = sorted(ordered, key=lambda r: CAUSE_ORDER.get(r.source, 9))
    return Case(
        case_id=case_id,
        country=first.country,
        region=next((r.region for r in ordered if r.region), ""),
        networks=sorted({a for r in ordered for a in r.asns}),
        operators=list(dict.fromkeys(o for r in ordered for o in r.operators)),
        apps=sorted({a for r in ordered for a in r.apps}),
        other_services=sorted({s for r in ordered for s in r.other_services}),
        kind=first.kind,
        start=starts[0].start,
        start_precision=starts[0].start_precision,
        end=last_end.end if last_end else None,
        end_precision=last_end.end_precision if last_end else "unknown",
        end_status=end_status,
        title=next((r.title for r in ordered if r.title), ""),
        cause=next((r.cause for r in by_cause if r.cause), ""),
        legal_basis=next((r.legal_basis for r in by_cause if r.legal_basis), ""),
        as_of=max((r.as_of for r in ordered if r.as_of is not None), default=None),
        status=status,
        sources=ordered,
    )


def merge(
    records: list[SourceRecord],
    previous: dict[tuple[str, str], str] | None = None,
    *,
    taken: set[str] | None = None,
) -> list[Case]:
    """Cases from records; ``previous`` maps a record's key to the case it was filed under.

    ``taken`` holds the case ids already given (by an earlier call, for the records of
    another country); the ids given here are added to it.
    """
    previous = previous or {}
    taken = set() if taken is None else taken
    cases = []
    for group in cluster(records):
        old = Counter(previous[r.key] for r in group if r.key in previous)
        cid = next(
            (c for c, _ in sorted(old.items(), key=lambda kv: (-kv[1], kv[0])) if c not in taken),
            None,
        )
        if cid is None:
            cid = case_id_for(sorted(group, key=_order)[0])
            if cid in taken:  # its founder's id went to an older case it split from
                cid = case_id_for(sorted(group, key=_order)[-1]) + "b"
        taken.add(cid)
        cases.append(case_of(group, cid))
    return cases
