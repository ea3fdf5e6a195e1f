"""The synthetic world: every measurement judged as intended, reproducible, labelled."""

from __future__ import annotations

import collections
import hashlib
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from voipwatch.catalog import load
from voipwatch.cli import app
from voipwatch.events import generate_keys as gk
from voipwatch.events.generate import generate_world as gen
from voipwatch.events.generate import iter_world, plan_for
from voipwatch.events.generate_calls import voipwatch_call
from voipwatch.events.labels import load_labels, size_band
from voipwatch.verdicts import judge_bytes

START = datetime(2026, 9, 7, tzinfo=UTC)


def _envelope(test: str, keys: dict[str, object], input_: str | None = None) -> bytes:
    return orjson.dumps({
        "annotations": {"engine_name": "ooniprobe-engine", "engine_version": "3.22.0"},
        "data_format_version": "0.2.0", "input": input_,
        "measurement_start_time": "2026-09-10 10:00:00", "probe_asn": "AS12389",
        "probe_cc": "RU", "report_id": "20260910T100000Z_x_RU_12389_n1_abc",
        "test_keys": keys, "test_name": test, "test_version": gk.TEST_VERSIONS[test],
    })  # fmt: skip


def _roles(raw: bytes) -> dict[str, tuple[str, str | None]]:
    v = judge_bytes(raw).verdict
    return {s.role: (s.status, s.technique) for s in v.services}


@pytest.mark.parametrize(
    "mechanism", sorted(gk.MECHANISMS), ids=lambda m: "-".join(map(str, m))
)  # fmt: skip
def test_every_mechanism_is_judged_as_intended(mechanism: tuple[str, str, str, bool]) -> None:
    test, role, technique, partial = mechanism
    if (test, role, technique, partial) == ("telegram", "telegram/web", "tcp.timeout", False):
        pytest.skip("only ever comes with a range block of Telegram's DCs (IMPLIED)")
    faults = {role: gk.Fault(technique, partial)}
    rng = random.Random(0)
    if test == "voipwatch_call":
        inp = next(i for i, rs in gk.CALL_INPUTS.items() if role in rs)
        raw = _envelope(test, voipwatch_call(inp, faults), inp)
    else:
        raw = _envelope(test, gk.IM_BUILDERS[test](faults, lambda n, k: rng.sample(range(n), k),
                                                   12389))  # fmt: skip
    want = {r: gk.MECHANISMS[(test, r, f.technique, f.partial)]
            for r, f in gk.effective(test, faults).items()}  # fmt: skip
    got = _roles(raw)
    for r, status in got.items():
        assert status == want.get(r, ("ok", None)), r


def test_unfaulted_measurements_are_ok() -> None:
    for test, build in gk.IM_BUILDERS.items():
        raw = _envelope(test, build({}, lambda n, k: list(range(k)), 12389))
        assert judge_bytes(raw).verdict.status == "ok", test
    for inp in gk.CALL_INPUTS:
        raw = _envelope("voipwatch_call", voipwatch_call(inp, {}), inp)
        assert judge_bytes(raw).verdict.status == "ok", inp


def test_a_world_sample_of_each_kind_is_judged_as_intended() -> None:
    """Up to 2 measurements of every (test, faults) kind the default world produces."""
    plan = plan_for(11)
    seen: collections.Counter[tuple[object, ...]] = collections.Counter()
    checked = 0
    for g in iter_world(plan, 11):
        key = (g.test, g.call_input, tuple(sorted(g.expected.items())), g.unusable)
        seen[key] += 1
        if seen[key] > 2:
            continue
        checked += 1
        v = judge_bytes(g.raw).verdict
        if g.unusable:
            assert v.status == "failure", g.test
            continue
        got = {s.role: (s.status, s.technique) for s in v.services}
        for r, status in got.items():
            assert status == g.expected.get(r, ("ok", None)), (g.test, g.call_input, r)
    assert len(seen) > 60  # blocks, partials, noise, outages, target changes, unusable
    assert checked >= len(seen)


def test_default_world_satisfies_the_acceptance_shape() -> None:
    for seed in (1, 2, 3):
        plan = plan_for(seed)
        kinds = collections.Counter(x.kind for x in plan.injected)
        assert kinds["block"] >= 60, seed
        assert kinds["target_change"] >= 2
        assert kinds["shutdown"] >= 2
        assert len(plan.networks) == 20
        assert len({n.cc for n in plan.networks}) == 6
        assert plan.days == 56
        blocks = [x for x in plan.injected if x.kind == "block"]
        assert {x.band for x in blocks} == {"national", "multi", "single"}
        assert {"short", "medium", "long"} <= {x.duration for x in blocks}
        assert any(f.partial for x in blocks for f in x.faults.values())
        techniques = {t for x in blocks for t in x.mechanisms}
        assert len(techniques) >= 15
        assert {n.volume for n in plan.networks} == {"busy", "medium", "sparse"}


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a = gen(
        7, tmp_path / "a", catalog=load(), weeks=3, countries=2, networks=3, events=4, start=START
    )
    b = gen(
        7, tmp_path / "b", catalog=load(), weeks=3, countries=2, networks=3, events=4, start=START
    )
    gen(8, tmp_path / "c", catalog=load(), weeks=3, countries=2, networks=3, events=4, start=START)
    assert a.measurements == b.measurements > 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    # OONI's layout: <test>/<CC>/<day>/<day>_<CC>_<test>.jsonl.gz
    files = sorted((tmp_path / "a").rglob("*.jsonl.gz"))
    assert files
    assert all(f.name.endswith(f"_{f.parts[-4]}.jsonl.gz") for f in files)
    assert all(f.parts[-5] == "raw" for f in files)


def test_labels_are_in_oonis_shape(tmp_path: Path) -> None:
    gen(3, tmp_path, catalog=load(), weeks=4, countries=3, networks=6, events=8, start=START)
    doc = json.loads((tmp_path / "labels.json").read_text())
    ooni = {"event_id", "probe_cc", "asn_scope", "asn_scope_kind", "target_set", "mechanisms",
            "onset_earliest", "onset_latest", "resolution_earliest", "resolution_latest",
            "event_class", "scoreable", "confidence", "source", "test_names"}  # fmt: skip
    ours = {"kind", "service", "roles", "plane", "size_band"}
    for e in doc["events"]:
        assert ooni | ours <= set(e)
        if e["kind"] == "target_change":
            assert e["event_class"] == "false_positive_event"
    labels = load_labels(tmp_path / "labels.json")
    assert not labels.malformed
    assert len(labels.labels) == len(doc["events"])
    assert {size_band(x) for x in labels.labels} <= {"national", "multi_network", "single_network"}
    assert len(labels.networks) == 6


def test_generate_command(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["generate", "--seed", "4", "--out", str(tmp_path / "w"), "--weeks",
                            "3", "--countries", "2", "--networks", "3", "--events", "3",
                            "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["measurements"] > 0
    assert (tmp_path / "w" / "labels.json").exists()
    # Written again, smaller: the older world's files are gone.
    small = ["--weeks", "3", "--countries", "1", "--networks", "1", "--events", "1"]
    r = runner.invoke(app, ["generate", "--seed", "4", "--out", str(tmp_path / "w"), *small])
    assert r.exit_code == 0, r.output
    assert {p.parts[-3] for p in (tmp_path / "w" / "raw").rglob("*.gz")} == {"IR"}
    assert not (tmp_path / "w" / "raw.partial").exists()
    (tmp_path / "other" / "raw").mkdir(parents=True)
    r = runner.invoke(app, ["generate", "--out", str(tmp_path / "other")])
    assert r.exit_code == 2
    assert "not a generated world" in r.output
    bad = runner.invoke(app, ["generate", "--out", str(tmp_path / "x"), "--networks", "99"])
    assert bad.exit_code == 2
    assert "Traceback" not in bad.output
