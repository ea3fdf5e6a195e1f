"""Scoring detected events against labels (OONI's protocol), and the evaluate command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voipwatch.catalog import load
from voipwatch.cli import app
from voipwatch.events.evaluate import score
from voipwatch.events.generate import generate_world
from voipwatch.events.labels import Label, LabelSet, load_labels, parse_time
from voipwatch.events.model import Event

START = datetime(2026, 9, 7, tzinfo=UTC)
KIND = {
    "block": "block",
    "shutdown": "possible_shutdown",
    "target_change": "target_change",
    "throttling": "throttling",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(5, out, catalog=load(), weeks=5, countries=3, networks=7, events=14, start=START)
    return out


def _labels(world: Path) -> LabelSet:
    return load_labels(world / "labels.json")


def _networks(ls: LabelSet) -> dict[str, list[int]]:
    nets: dict[str, list[int]] = {}
    for n in ls.networks:
        nets.setdefault(n["probe_cc"], []).append(n["asn"])
    return nets


def _event(label: Label, *, after: float = 3.0, kind: str | None = None, n: int = 0) -> Event:
    t = parse_time(label.onset_earliest)
    assert t is not None
    t += timedelta(hours=after)
    national = label.asn_scope_kind == "all"
    return Event(
        event_id=f"{label.event_id}-{n}",
        kind=kind or KIND[label.kind],  # type: ignore[arg-type]
        probe_cc=label.probe_cc,
        asns=[] if national else label.asn_scope,
        national=national,
        service=label.service or "",
        roles=label.roles,
        plane=label.plane or "",
        techniques=label.mechanisms,
        start=t,
        start_earliest=t,
        start_latest=t,
        end=None,
        confidence=0.9,
        measurements=10,
        evidence={"detected_at": (t + timedelta(hours=1)).isoformat()},
    )


def test_a_perfect_detector_scores_perfectly(world: Path) -> None:
    ls = _labels(world)
    events = [_event(x) for x in ls.labels if x.scoreable == "yes"]
    r = score(ls.labels, events, catalog=load(), networks=_networks(ls)).to_dict()
    assert r["recall"] == 1.0
    assert r["detected"] == r["scored"] > 10
    assert r["false_alarms_per_series_week"] == 0.0
    assert r["lead_in_series_weeks"] > 0
    assert r["median_latency_hours"] == 4.0  # detected_at: 3 h after onset, + 1 h
    assert r["median_onset_error_hours"] == 3.0
    assert r["target_changes"] > 0
    assert r["target_changes_reported_as_block"] == 0
    assert r["unexplained_block_events"] == 0
    assert set(r["recall_by_band"]) == {"national", "multi_network", "single_network"}
    assert r["recall_by_kind"]["throttling"] == 1.0
    assert r["throttles_reported_as_block"] == 0


def test_a_throttle_is_found_only_as_throttling_and_a_block_there_counts_against(
    world: Path,
) -> None:
    ls = _labels(world)
    throttles = [x for x in ls.labels if x.kind == "throttling" and x.scoreable == "yes"]
    assert throttles
    others = [_event(x) for x in ls.labels if x.scoreable == "yes" and x.kind != "throttling"]
    called_blocks = [_event(x, kind="block") for x in throttles]
    r = score(ls.labels, others + called_blocks, catalog=load(), networks=_networks(ls)).to_dict()
    assert r["recall_by_kind"]["throttling"] == 0.0
    assert r["labelled_by_kind"]["throttling"] == len(throttles)
    assert r["throttles_reported_as_block"] == len(throttles)
    assert r["recall_by_kind"]["block"] == 1.0


def test_misses_late_onsets_and_early_ones(world: Path) -> None:
    ls = _labels(world)
    blocks = [x for x in ls.labels if x.kind == "block" and x.scoreable == "yes"]
    single = [x for x in blocks if x.size_band == "single_network"]
    others = [x for x in blocks if x.size_band != "single_network"]
    # Singles found 30 h late (outside the +24 h tolerance), the rest 5 h early.
    events = [_event(x, after=30) for x in single] + [_event(x, after=-5) for x in others]
    r = score(blocks, events, catalog=load(), networks=_networks(ls)).to_dict()
    assert r["recall_by_band"]["single_network"] == 0.0
    assert r["recall"] == round(len(others) / len(blocks), 4)
    assert r["median_latency_hours"] == -4.0
    assert {m["event_id"] for m in r["misses"]} == {x.event_id for x in single}


def test_a_block_reported_on_a_target_change_counts_against(world: Path) -> None:
    ls = _labels(world)
    changes = [x for x in ls.labels if x.kind == "target_change"]
    recognised = [_event(x, kind="target_change") for x in changes]
    r = score(changes, recognised, catalog=load(), networks=_networks(ls)).to_dict()
    assert r["target_changes_reported_as_block"] == 0
    r = score(
        changes, [_event(changes[0], kind="block")], catalog=load(), networks=_networks(ls)
    ).to_dict()
    assert r["target_changes_reported_as_block"] == 1
    assert r["blocks_on_target_changes"] == [changes[0].event_id]
    rows = {x["event_id"]: x for x in r["per_label"]}
    assert rows[changes[0].event_id]["hit"] is True
    assert rows[changes[0].event_id]["events"] == [f"{changes[0].event_id}-0"]


def test_lead_in_false_alarms_per_series_week(world: Path) -> None:
    ls = _labels(world)
    label = next(x for x in ls.labels if x.kind == "block" and x.size_band == "single_network"
                 and x.scoreable == "yes")  # fmt: skip
    alarm = _event(label, after=-24 * 6, n=1)  # six days before the onset
    r = score([label], [_event(label), alarm], catalog=load(), networks=_networks(ls)).to_dict()
    assert r["lead_in_alarms"] == 1
    assert r["lead_in_series_weeks"] == pytest.approx(13 / 7, abs=0.01)
    assert r["false_alarms_per_series_week"] == pytest.approx(7 / 13, abs=0.001)
    assert r["alerts_per_event"] == 1.0


def test_rows_that_cannot_be_scored_are_excluded_and_counted(world: Path) -> None:
    ls = _labels(world)
    base = next(x for x in ls.labels if x.kind == "block" and x.scoreable == "yes")
    rows = [
        Label(event_id="a", probe_cc=base.probe_cc, scoreable="unknown", mechanisms=["x"],
              onset_earliest=base.onset_earliest),
        Label(event_id="f", probe_cc=base.probe_cc, scoreable="yes", mechanisms=["x"],
              test_names=["web_connectivity"], target_set=["bsky.app"],
              onset_earliest=base.onset_earliest),
        Label(event_id="g", probe_cc=base.probe_cc, scoreable="yes", mechanisms=["x"],
              service="whatsapp", onset_earliest="2019-06-15T00:00:00Z"),
        Label(event_id="b", probe_cc=base.probe_cc, scoreable="yes",
              onset_earliest=base.onset_earliest),
        Label(event_id="c", probe_cc=base.probe_cc, scoreable="yes", mechanisms=["x"],
              event_class="disputed", onset_earliest=base.onset_earliest),
        Label(event_id="d", probe_cc=base.probe_cc, scoreable="yes", mechanisms=["x"],
              asn_scope=[64999], asn_scope_kind="listed", onset_earliest=base.onset_earliest,
              test_names=["whatsapp"]),
        Label(event_id="e", probe_cc="ZZ", scoreable="yes", mechanisms=["x"],
              onset_earliest=base.onset_earliest, test_names=["telegram"]),
    ]  # fmt: skip
    report = score(rows, [], catalog=load(), networks=_networks(ls), data_start=START,
                   data_end=START + timedelta(weeks=5))  # fmt: skip
    r = report.to_dict()
    assert r["scored"] == 0
    assert r["recall"] is None
    assert r["excluded_by_reason"] == {
        "scoreable=unknown": 1,
        "no mechanisms": 1,
        "disputed": 1,
        "no coverage": 3,
        "not about a service voipwatch measures": 1,
    }
    assert any("AS64999" in n for n in report.notes)


def test_oonis_own_label_files_are_read_and_mostly_excluded(shared_dir: Path) -> None:
    folder = shared_dir / "ooni-samples" / "ooni__data" / "docs" / "labels"
    for path in sorted(folder.glob("*event-labels*.json")):
        ls = load_labels(path)
        assert len(ls.labels) + len(ls.malformed) >= 60
        r = score(ls.labels, [], catalog=load(), networks={"BR": [28573]}).to_dict()
        assert r["labelled"] == len(ls.labels)
        assert r["excluded"] + r["scored"] + r["target_changes"] == r["labelled"]
        assert r["excluded_by_reason"].get("scoreable=unknown", 0) > 40
        # Without coverage checks, the scoreable rows are scored (and missed: no events).
        r = score(ls.labels, [], catalog=load()).to_dict()
        assert r["detected"] == 0


# -- the command ------------------------------------------------------------------------


def _store_with(tmp_path: Path, world: Path) -> Path:
    from voipwatch.store import open_store
    from voipwatch.store.ingest import ingest

    db = tmp_path / "s.duckdb"
    one_day = sorted((world / "raw").rglob("*.jsonl.gz"))[:30]
    with open_store(db) as store:
        ingest(store, one_day, workers=1)
    return db


def test_evaluate_command_bad_input(
    tmp_path: Path, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = runner.invoke(app, ["evaluate", "--labels", str(bad), "--db", str(tmp_path / "x.duckdb")])
    assert r.exit_code == 1
    assert "not a JSON label file" in r.output
    assert "Traceback" not in r.output
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    r = runner.invoke(app, ["evaluate", "--labels", str(tmp_path / "deep.json")])
    assert r.exit_code == 1
    assert "nested too deeply" in r.output
    (tmp_path / "nolist.json").write_text('{"events": 3}')
    r = runner.invoke(app, ["evaluate", "--labels", str(tmp_path / "nolist.json")])
    assert r.exit_code == 1
    assert "no list of event labels" in r.output
    # No store, and an empty store: said so, no traceback, nothing created.
    from voipwatch.store import open_store

    empty = tmp_path / "empty.duckdb"
    labels = str(world / "labels.json")
    r = runner.invoke(app, ["evaluate", "--labels", labels, "--db", str(empty)])
    assert r.exit_code == 1
    assert "no store at" in r.output
    assert not empty.exists()
    open_store(empty).close()
    r = runner.invoke(app, ["evaluate", "--labels", labels, "--db", str(empty)])
    assert r.exit_code == 1
    assert "holds no measurements" in r.output
    # Labels on networks the store never measured, and a malformed row: named, not fatal.
    import voipwatch.cli.evaluate as cmd

    monkeypatch.setattr(cmd, "_events", lambda store, stored: [])
    doc = json.loads((world / "labels.json").read_text())
    doc["events"][0]["asn_scope"] = [64999]
    doc["events"][0]["asn_scope_kind"] = "listed"
    doc["events"][0]["scoreable"] = "yes"
    doc["events"][1]["onset_earliest"] = "yesterday"
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(doc))
    db = _store_with(tmp_path, world)
    r = runner.invoke(app, ["evaluate", "--labels", str(odd), "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    assert "AS64999" in r.stderr
    assert "event 2" in r.stderr
    out = json.loads(r.stdout)
    for key in ("recall", "recall_by_band", "false_alarms_per_series_week",
                "median_latency_hours", "labelled", "detected"):  # fmt: skip
        assert key in out
    assert out["malformed"] == 1
    r = runner.invoke(app, ["evaluate", "--labels", str(odd), "--db", str(db)])
    assert r.exit_code == 0
    assert "recall" in r.stdout
