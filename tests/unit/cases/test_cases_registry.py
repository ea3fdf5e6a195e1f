"""Merging, the registry in the store, event matching, annotations and export."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
import pytest

from voipwatch.cases.export import CASE_COLUMNS, case_row, to_csv
from voipwatch.cases.match import match
from voipwatch.cases.merge import merge
from voipwatch.cases.model import SourceRecord
from voipwatch.cases.registry import (
    annotate_case,
    get_case,
    import_cases,
    list_cases,
    match_events,
)
from voipwatch.errors import InputError, UsageError
from voipwatch.events.model import Event
from voipwatch.store import open_store

TODAY = date(2026, 11, 22)


def rec(source: str, rid: str, cc: str, start: str, apps: list[str], **kw: object) -> SourceRecord:
    return msgspec.convert(
        {
            "source": source,
            "record_id": rid,
            "country": cc,
            "start": start,
            "apps": apps,
            "kind": kw.pop("kind", "service_block"),
            **kw,
        },
        SourceRecord,
    )


def event(
    cc: str, service: str, start: str, end: str | None, asns: list[int], **kw: object
) -> Event:
    s = datetime.fromisoformat(start).replace(tzinfo=UTC)
    e = datetime.fromisoformat(end).replace(tzinfo=UTC) if end else None
    return Event(
        event_id=f"e-{cc}-{service}-{start}",
        kind=kw.pop("kind", "block"),  # type: ignore[arg-type]
        probe_cc=cc,
        asns=asns,
        national=not asns,
        service=service,
        roles=[f"{service}/endpoints"],
        plane="signalling",
        techniques=["tls.reset"],
        start=s,
        start_earliest=s,
        start_latest=s,
        end=e,
        confidence=0.9,
        measurements=120,
    )


def test_merge_rule() -> None:
    records = [
        rec("ooni", "1", "BR", "2023-04-27", ["telegram"], asns=[28573]),
        rec("stop", "s1", "BR", "2023-04-26", ["telegram"], end="2023-04-29"),
        rec("cenalert", "c1", "BR", "2023-04-26", ["telegram", "whatsapp"]),
        # Another app, same days: another block.
        rec("cenalert", "c2", "BR", "2023-04-26", ["signal"], reported_by=["OONI"]),
        # Two rows of one source are two blocks by its own account.
        rec("stop", "s2", "BR", "2023-04-27", ["telegram"]),
        # Onset three days later: not the same block ...
        rec("stop", "s3", "IR", "2022-01-01", ["whatsapp"], end="2022-01-02"),
        rec("cenalert", "c3", "IR", "2022-01-04", ["whatsapp"]),
        # ... unless the first was still in force (a late report).
        rec("stop", "s4", "IR", "2017-12-30", ["telegram"], end="2018-01-13"),
        rec("cenalert", "c4", "IR", "2018-01-01", ["telegram"]),
        # Different districts on one day are different blocks.
        rec("stop", "s5", "IN", "2023-07-29", ["whatsapp"], region="Madhubani District, Bihar"),
        rec("cenalert", "c5", "IN", "2023-07-29", ["whatsapp"], region="Kaimur District"),
        # Two VoIP bans of no app in particular merge; a shutdown the same day does not.
        rec("stop", "s6", "MA", "2016-02-16", [], kind="voip_only"),
        rec("cenalert", "c6", "MA", "2016-02-16", [], kind="voip_only"),
        rec("ooni", "o6", "MA", "2016-02-16", [], kind="full_shutdown"),
    ]
    cases = merge(records)
    groups = sorted(sorted(s.record_id for s in c.sources) for c in cases)
    assert groups == sorted(
        [
            ["1", "c1", "s1"],
            ["c2"],
            ["s2"],
            ["s3"],
            ["c3"],
            ["c4", "s4"],
            ["s5"],
            ["c5"],
            ["c6", "s6"],
            ["o6"],
        ]
    )
    br = next(c for c in cases if len(c.sources) == 3)
    assert (br.start, br.end, br.networks, br.apps) == (
        date(2023, 4, 26),
        date(2023, 4, 29),
        [28573],
        ["telegram", "whatsapp"],
    )
    # The same records in another order give the same cases, with the same ids.
    again = merge(list(reversed(records)))
    assert sorted(c.case_id for c in again) == sorted(c.case_id for c in cases)


def test_case_keeps_its_id_when_a_new_source_joins() -> None:
    stop = rec("stop", "s1", "BR", "2023-04-26", ["telegram"])
    (first,) = merge([stop])
    (second,) = merge(
        [stop, rec("ooni", "1", "BR", "2023-04-27", ["telegram"])],
        {stop.key: first.case_id},
    )
    assert second.case_id == first.case_id
    assert len(second.sources) == 2


def test_matching_events_and_cases() -> None:
    cases = merge(
        [
            rec("ooni", "1", "BR", "2023-04-27", ["telegram"], asns=[28573], end="2023-04-29"),
            rec(
                "stop",
                "2",
                "IN",
                "2019-08-05",
                [],
                kind="full_shutdown",
                region="Kashmir",
                end_status="ongoing",
            ),
            rec("cenalert", "3", "RU", "2018-04-13", ["telegram"]),
        ]
    )
    events = [
        event("BR", "telegram", "2023-04-26T18:00:00", "2023-04-29T12:00:00", [28573]),
        event("BR", "telegram", "2023-04-27T00:00:00", None, [99999]),  # other network
        event("BR", "whatsapp", "2023-04-27T00:00:00", None, []),  # other app
        event("BR", "telegram", "2023-06-01T00:00:00", None, []),  # later
        event("IN", "whatsapp", "2020-01-01T00:00:00", None, [], kind="possible_shutdown"),
        event("RU", "telegram", "2018-04-14T00:00:00", None, [12389]),  # onset documented
        event("RU", "telegram", "2019-04-14T00:00:00", None, [12389]),  # end undocumented
    ]
    found = {(m.case_id, m.event_id) for m in match(cases, events, today=TODAY)}
    by_cc = {c.country: c.case_id for c in cases}
    assert found == {
        (by_cc["BR"], events[0].event_id),
        (by_cc["IN"], events[4].event_id),
        (by_cc["RU"], events[5].event_id),
    }


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


OONI = {
    "incidents": [
        {
            "id": "1",
            "title": "Brazil blocked Telegram",
            "start_time": "2023-04-27T00:00:00Z",
            "end_time": "2023-04-29T00:00:00Z",
            "CCs": ["BR"],
            "ASNs": [28573],
            "test_names": ["telegram"],
            "tags": ["telegram"],
        },
    ]
}
CENALERT = (
    "country,country_code,affected_regions,start_date,end_date,cause,affected_services,link,"
    "source\nBrazil,BR,National,2023-04-26,2023-04-29,Court order,Telegram,https://x.example/1,"
    "Access Now\nMorocco,MA,,2016-02-16,2016-11-04,,VoIP,,Access Now\n"
)


def test_registry_import_annotate_export(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        s1 = import_cases(store, write(tmp_path, "i.json", json.dumps(OONI)), today=TODAY)
        s2 = import_cases(store, write(tmp_path, "all.csv", CENALERT), today=TODAY)
        assert (s1.new, s1.cases_after) == (1, 1)
        assert (s2.new, s2.cases_after, s2.merged) == (2, 2, 1)
        # Importing the same file again changes nothing.
        s3 = import_cases(store, tmp_path / "all.csv", today=TODAY)
        assert (s3.new, s3.updated, s3.cases_after) == (0, 0, 2)
        br = list_cases(store, country="Brazil")[0]
        assert [s.source for s in br.sources] == ["ooni", "cenalert"]
        assert br.cause == "Court order"
        annotate_case(
            store,
            br.case_id,
            note="court order suspended on appeal",
            legal_basis="Marco Civil da Internet, art. 12",
            status="confirmed",
            links=["https://example.org/ruling"],
        )
        with pytest.raises(UsageError, match="no case"):
            annotate_case(store, "nope", note="x")
        with pytest.raises(UsageError, match="status"):
            annotate_case(store, br.case_id, status="maybe")
        with pytest.raises(UsageError, match="web address"):
            annotate_case(store, br.case_id, links=["file:///etc/passwd"])
        # The annotation stays with the case when a source is imported again.
        import_cases(store, tmp_path / "i.json", today=TODAY)
        got = get_case(store, br.case_id)
        assert got is not None
        assert (got.status, got.legal_basis) == ("confirmed", "Marco Civil da Internet, art. 12")
        assert "https://example.org/ruling" in got.links
        assert [c.country for c in list_cases(store, app="telegram")] == ["BR"]
        assert [c.country for c in list_cases(store, kind="voip_only")] == ["MA"]
        assert [c.status for c in list_cases(store, status="confirmed")] == ["confirmed"]
        with pytest.raises(UsageError, match="unknown app"):
            list_cases(store, app="tinder")
        matches = match_events(
            store, [event("BR", "telegram", "2023-04-26T20:00:00", None, [28573])]
        )
        assert [m.case_id for m in matches] == [br.case_id]
        assert get_case(store, br.case_id).events == [matches[0].event_id]  # type: ignore[union-attr]
        text = to_csv(CASE_COLUMNS, (case_row(c) for c in list_cases(store)))
        assert text.splitlines()[0].startswith("case_id,country,region,kind,apps")
        assert len(text.splitlines()) == 3


def test_bad_file_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    bad = (
        CENALERT + "Atlantis,,,2020-01-01,,,WhatsApp,,OONI\nBrazil,BR,,2031-01-01,,,Signal,,OONI\n"
    )
    problems: list[str] = []
    with open_store(db) as store:
        import_cases(store, write(tmp_path, "i.json", json.dumps(OONI)), today=TODAY)
        before = store.con.execute("SELECT count(*) FROM case_sources").fetchone()
        with pytest.raises(InputError, match="2 bad record"):
            import_cases(
                store, write(tmp_path, "bad.csv", bad), today=TODAY, on_problem=problems.append
            )
        after = store.con.execute("SELECT count(*) FROM case_sources").fetchone()
    assert before == after == (1,)
    assert problems == [
        f"{tmp_path / 'bad.csv'}:4: unknown country 'Atlantis'",
        f"{tmp_path / 'bad.csv'}:5: start 2031-01-01 is in the future",
    ]


def test_case_cost() -> None:
    from voipwatch.cases.costing import case_cost, event_cost

    (br,) = merge([rec("stop", "1", "BR", "2023-04-26", ["telegram"], end="2023-04-28")])
    cost = case_cost(br)
    assert cost["available"] is True
    assert cost["hours"] == 48
    assert 0 < cost["low"] <= cost["central"] <= cost["high"] <= cost["upper_bound_full_shutdown"]  # type: ignore[operator]
    (two,) = merge(
        [rec("stop", "2", "BR", "2023-04-26", ["telegram", "whatsapp"], end="2023-04-28")]
    )
    both = case_cost(two)
    assert both["central"] > cost["central"]  # type: ignore[operator]
    assert len(both["per_app"]) == 2  # type: ignore[arg-type]
    (open_end,) = merge([rec("cenalert", "3", "BR", "2023-04-26", ["telegram"])])
    assert case_cost(open_end) == {
        "available": False,
        "reason": "no end date documented: duration unknown",
    }
    (shutdown,) = merge(
        [rec("stop", "4", "IN", "2023-04-26", [], kind="full_shutdown", end="2023-04-27")]
    )
    assert case_cost(shutdown)["app"] == "internet"
    ev = event("BR", "telegram", "2023-04-26T00:00:00", "2023-04-28T00:00:00", [])
    assert event_cost(ev)["available"] is True


def test_an_ongoing_case_is_priced_so_far_to_the_day_it_was_documented() -> None:
    """Never to the clock: the figure is the same on every page and every day."""
    from voipwatch.cases.costing import case_cost

    records = [
        rec(source, "1", "BR", "2023-04-26", ["telegram"], end_status="ongoing", as_of=d)
        for source, d in (("stop", "2023-04-28"), ("cenalert", "2023-05-06"))
    ]
    (case,) = merge(records)
    assert str(case.as_of) == "2023-05-06"  # the latest copy that says it goes on
    cost = case_cost(case)
    assert cost["hours"] == 10 * 24
    assert any("priced so far, to 2023-05-06" in f for f in cost["flags"])  # type: ignore[attr-defined]
    (undated,) = merge([rec("stop", "2", "BR", "2023-04-26", ["telegram"], end_status="ongoing")])
    assert case_cost(undated)["available"] is False


def test_importing_records_the_day_it_was_read(tmp_path: Path) -> None:
    from voipwatch.cases.importers import read_cases

    data = (
        b"start_date,country,shutdown_extent,end_date,area_name,shutdown_status,whatsapp_affected\n"
    )
    data += b"2024-01-05,Brazil,Service-based,,National,Ongoing,Yes\n"
    batch = read_cases(data, file="stop.csv", today=date(2024, 2, 1))
    assert [r.as_of for r in batch.records] == [date(2024, 2, 1)]


def test_unnamed_apps_are_not_priced() -> None:
    from voipwatch.cases.costing import case_cost

    (unnamed,) = merge([rec("stop", "1", "ML", "2018-08-11", [], end="2018-08-12")])
    assert case_cost(unnamed) == {
        "available": False,
        "reason": "the sources name no app to price",
    }
    (voip,) = merge([rec("stop", "2", "MA", "2016-02-16", [], kind="voip_only", end="2016-11-04")])
    priced = case_cost(voip)
    assert priced["available"] is True
    assert priced["app"] == "voip"


def test_platform_only_block_is_priced_as_the_platform() -> None:
    from voipwatch.cases.costing import case_cost

    # A throttled Twitter, or a Facebook block, is not an Internet shutdown.
    for kind in ("throttling", "service_block"):
        (case,) = merge(
            [
                rec(
                    "stop",
                    "1",
                    "PK",
                    "2024-02-17",
                    [],
                    kind=kind,
                    end="2024-02-19",
                    other_services=["twitter", "snapchat"],
                )
            ]
        )
        cost = case_cost(case)
        assert cost["available"] is True
        assert cost["app"] == "x"
        assert cost["central"] < cost["upper_bound_full_shutdown"] / 2  # type: ignore[operator]
        assert any("snapchat" in f for f in cost["flags"])  # type: ignore[attr-defined]


def test_several_apps_are_the_union_of_their_shares_not_a_shutdown() -> None:
    from voipwatch.cases.costing import case_cost
    from voipwatch.cost.formula import union

    assert union([50.0, 50.0], 100.0) == 75.0
    assert union([100.0, 30.0], 100.0) == 100.0
    assert union([], 100.0) == 0.0
    (two,) = merge(
        [rec("stop", "2", "BR", "2023-04-26", ["telegram", "whatsapp"], end="2023-04-28")]
    )
    cost = case_cost(two)
    per = [float(e["central"]) for e in cost["per_app"]]  # type: ignore[attr-defined]
    assert max(per) < cost["central"] < sum(per)  # type: ignore[operator]
    assert cost["case_kind"] == "several_apps"
    (shutdown,) = merge(
        [rec("stop", "4", "IN", "2023-04-26", [], kind="full_shutdown", end="2023-04-27")]
    )
    assert case_cost(shutdown)["case_kind"] == "shutdown"
    (regional,) = merge(
        [
            rec(
                "stop",
                "5",
                "IN",
                "2023-04-26",
                [],
                kind="full_shutdown",
                end="2023-04-27",
                region="Manipur",
            )
        ]
    )
    refused = case_cost(regional)
    assert refused["available"] is False
    assert "Manipur, not in the whole country" in str(refused["reason"])
    # Two sources that both say "the whole country", joined by the merge, are not a region.
    (merged,) = merge(
        [
            rec(
                "stop",
                "6",
                "SD",
                "2023-04-26",
                [],
                kind="full_shutdown",
                end="2023-04-27",
                region="Nationwide, National",
            )
        ]
    )
    assert case_cost(merged)["case_kind"] == "shutdown"
