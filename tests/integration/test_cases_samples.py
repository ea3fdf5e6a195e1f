"""The three documented-case sources imported together (shared sample data).

Prints the counts per source and after merging, the cases several sources share, and
the near-duplicates the merge rule leaves apart, so a reader can check the merge.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from voipwatch.cases.merge import compatible
from voipwatch.cases.registry import import_cases, list_cases, match_events
from voipwatch.events.model import Event
from voipwatch.store import open_store

TODAY = date(2026, 11, 22)


def sources(shared: Path) -> dict[str, Path]:
    return {
        "ooni": shared / "ooni-samples" / "ooni__data" / "docs" / "incidents.json",
        "stop": shared / "ground-truth" / "accessnow_stop_2016_2025.csv",
        "cenalert": shared / "ground-truth" / "cenalert_service_blocking_events_All.csv",
    }


def incident_event(
    case_id: str, cc: str, app: str, asns: list[int], start: date, end: date | None
) -> Event:
    """What the detector reports for a documented block: onset within the first day."""
    s = datetime.combine(start, time(6), tzinfo=UTC)
    e = datetime.combine(end, time(), tzinfo=UTC) if end else None
    return Event(
        event_id=f"{case_id}-{app}",
        kind="block",
        probe_cc=cc,
        asns=asns[:2],
        national=False,
        service=app,
        roles=[f"{app}/endpoints"],
        plane="signalling",
        techniques=["tls.reset"],
        start=s,
        start_earliest=s - timedelta(hours=6),
        start_latest=s,
        end=e,
        confidence=0.8,
        measurements=50,
    )


@pytest.mark.shared
def test_three_sources_merge_into_one_list(shared_dir: Path, tmp_path: Path) -> None:
    paths = sources(shared_dir)
    with open_store(tmp_path / "cases.duckdb") as store:
        stats = {name: import_cases(store, p, name, today=TODAY) for name, p in paths.items()}
        cases = list_cases(store)
        stored = store.con.execute("SELECT count(*) FROM case_sources").fetchone()

        print("\nper source: rows read / records kept / left out (why)")
        for name, s in stats.items():
            print(
                f"  {name:9} {s.rows:5} / {s.records:5} / {sum(s.skipped.values()):4} "
                f"{dict(s.skipped)}  repaired {dict(s.repaired)}"
            )
        records = sum(s.records for s in stats.values())
        multi = [c for c in cases if len({r.source for r in c.sources}) > 1]
        print(
            f"after merging: {records} records -> {len(cases)} cases, {len(multi)} "
            "documented by more than one source"
        )

        # Every record is kept, in exactly one case.
        assert stored == (records,)
        keys = [r.key for c in cases for r in c.sources]
        assert len(keys) == len(set(keys)) == records

        # No two cases are what the rule calls one block.
        by_cc: dict[str, list] = {}
        for c in cases:
            by_cc.setdefault(c.country, []).append(c)
        for group in by_cc.values():
            for a, b in itertools.combinations(group, 2):
                assert not all(compatible(x, y) for x in a.sources for y in b.sources), (
                    a.case_id,
                    b.case_id,
                )

        print("merged (one block, several records):")
        for c in multi:
            print(
                f"  {c.country} {c.start} {','.join(c.apps) or c.kind}: "
                + " | ".join(f"{r.source} {r.start}" for r in c.sources)
            )
        print("near-duplicates left apart (same country and app, onsets <= 3 days apart):")
        near = 0
        for group in by_cc.values():
            for a, b in itertools.combinations(group, 2):
                if abs(a.start - b.start) <= timedelta(days=3) and set(a.apps) & set(b.apps):
                    near += 1
                    print(
                        f"  {a.country} {a.start}/{b.start} {a.apps}/{b.apps} "
                        f"{[r.source for r in a.sources]}/{[r.source for r in b.sources]} "
                        f"{a.region[:25]!r}/{b.region[:25]!r}"
                    )
        print(f"  {near} pairs")

        # Known blocks that several sources document.
        def one(cc: str, start: str, app: str) -> list[str]:
            hits = [
                c
                for c in cases
                if c.country == cc
                and c.start == date.fromisoformat(start)
                and (app in c.apps or (not app and not c.apps))
            ]
            assert len(hits) == 1, (cc, start, hits)
            return sorted(r.source for r in hits[0].sources)

        assert one("BR", "2023-04-26", "telegram") == ["cenalert", "ooni", "stop"]
        assert one("MA", "2016-02-16", "") == ["cenalert", "stop"]
        assert one("IR", "2017-12-30", "telegram") == ["cenalert", "cenalert", "stop"]
        assert one("RU", "2024-12-13", "viber") == ["cenalert", "ooni", "stop"]

        # Every OONI incident that names a messaging app is in a case, and a detector
        # event for it (its country, app and networks, onset on its first day) matches
        # exactly that case.
        ooni_cases = [(c, r) for c in cases for r in c.sources if r.source == "ooni"]
        assert len(ooni_cases) == stats["ooni"].records == 23
        events = [
            incident_event(c.case_id, r.country, app, r.asns, r.start, r.end)
            for c, r in ooni_cases
            for app in r.apps
        ]
        matched = match_events(store, events)
        got: dict[str, set[str]] = {}
        for m in matched:
            got.setdefault(m.event_id, set()).add(m.case_id)
        print("OONI messaging incidents: case, other sources")
        for c, r in ooni_cases:
            others = sorted({s.source for s in c.sources} - {"ooni"})
            print(f"  {r.country} {r.start} {r.apps} -> {c.case_id} {others or '(OONI only)'}")
            for app in r.apps:
                assert c.case_id in got[f"{c.case_id}-{app}"], (r.title, app)
        corroborated = sum(1 for c, _ in ooni_cases if len({s.source for s in c.sources}) > 1)
        print(f"  {corroborated} of {len(ooni_cases)} also documented by STOP or CenAlert")
        assert corroborated >= 18


@pytest.mark.shared
def test_a_platform_ban_is_never_priced_as_an_outage(shared_dir: Path, tmp_path: Path) -> None:
    """STOP files bans of Starlink (its sale, use or kits) as "Full network"; the
    Internet kept working, so they are not priced as shutdowns. A shutdown that also
    cut Starlink stays a shutdown."""
    from voipwatch.cases.costing import case_cost

    with open_store(tmp_path / "cases.duckdb") as store:
        import_cases(store, sources(shared_dir)["stop"], "stop", today=TODAY)
        cases = list_cases(store)
    bans = [c for c in cases if c.kind == "platform_ban"]
    assert len(bans) >= 10
    for c in bans:
        cost = case_cost(c)
        assert cost["available"] is False, c.title
        assert "not an outage" in str(cost["reason"])
    iran = [c for c in bans if c.country == "IR" and c.start == date(2025, 6, 30)]
    assert iran, "Iran's 2025 Starlink ban is a platform ban"
    tanzania = [c for c in cases if c.country == "TZ" and c.start == date(2025, 10, 29)]
    assert [c.kind for c in tanzania] == ["full_shutdown"]
    assert case_cost(tanzania[0])["available"] is True
    # Every case priced as a full shutdown says the Internet or a network was cut.
    for c in cases:
        if c.kind == "full_shutdown":
            assert "starlink" not in [o.lower() for o in c.other_services] or any(
                "network" in s.title.lower() or "internet" in s.title.lower() for s in c.sources
            ), c.title
