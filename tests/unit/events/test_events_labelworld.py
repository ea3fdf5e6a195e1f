"""The label-side world generator: what it draws, what it renders, what it does not share."""

from __future__ import annotations

import ast
import gzip
import json
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from voipwatch.testing import labelworld
from voipwatch.testing.labelworld import CALL, FAULTS, VARIANTS, plan_world
from voipwatch.verdicts import judge_bytes

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "measurements"
MANIFEST = tomllib.loads((FIXTURES / "MANIFEST.toml").read_text())["fixtures"]
TEMPLATES = {v.template: (FIXTURES / v.template).read_bytes() for v in VARIANTS.values()}


def test_it_shares_no_code_with_voipwatch_generate() -> None:
    tree = ast.parse(Path(labelworld.__file__).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not {m for m in imported if m.startswith("voipwatch.events.")} - {
        "voipwatch.events.labels"
    }
    assert not any("generate" in m or m.endswith(".world") for m in imported)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_state_is_what_its_manifest_entry_says(name: str) -> None:
    v = VARIANTS[name]
    expected = MANIFEST[v.template]
    roles = {r: s.split() for r, s in expected.get("roles", {}).items()}
    assert set(v.roles) == set(roles)
    assert set(v.mechanisms) == {parts[1] for parts in roles.values() if len(parts) > 1}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_world_holds_what_the_acceptance_asks(seed: int) -> None:
    for countries in (3, 4, 6, 8):
        world = plan_world(seed, countries)
        kinds = Counter(s.kind for s in world.spells)
        assert kinds["block"] >= 20
        assert kinds["target_change"] == kinds["outage"] == 1
        assert kinds["net_outage"] >= 2
        assert kinds["flaky"] == 2
        assert kinds["shutdown"] == 1
        throttles = [s for s in world.spells if s.kind == "throttling"]
        assert sorted(s.national for s in throttles) == [False, True]
        assert all(n.volume != "sparse" for s in throttles if not s.national for n in s.nets)
        assert len({n.cc for n in world.nets}) == countries
        blocks = [s for s in world.spells if s.kind == "block"]
        assert sum(len(s.nets) == 1 and not s.national for s in blocks) >= 6
        assert {VARIANTS[s.variant].mechanisms[0] for s in blocks} >= {
            "ip.blocked", "tls.reset", "dns.bogon"
        }  # fmt: skip
        assert any(s.end is None for s in blocks)
        assert any(s.end is not None and (s.end - s.start).total_seconds() < 86400 * 2
                   for s in blocks)  # fmt: skip
    with pytest.raises(ValueError, match="between 3 and 8"):
        plan_world(seed, 2)
    with pytest.raises(ValueError, match="4 or more"):
        plan_world(seed, 4, weeks=3)


def test_rendered_measurements_are_judged_as_their_labels_say(tmp_path: Path) -> None:
    world = plan_world(5, 3, weeks=4, blocks=20)
    counts = labelworld.write_world(world, TEMPLATES, tmp_path)
    assert counts["measurements"] > 1000
    seen: Counter[str] = Counter()
    for path in sorted((tmp_path / "raw").glob("*.jsonl.gz")):
        with gzip.open(path) as f:
            lines = f.read().splitlines()
        for i, line in enumerate(lines):
            if i % 25:
                continue
            msmt = json.loads(line)
            v = judge_bytes(line).verdict
            assert v.probe_cc == msmt["probe_cc"]
            bad = {s.role for s in v.services if s.status in ("blocked", "partial")}
            if msmt["test_name"] == "voipwatch_call":
                slow = {s.role for s in v.services if s.status == "degraded"}
                assert not bad, (path.name, bad)
                assert slow in (set(), {"whatsapp/web"}), (path.name, slow)
                seen[CALL[1] if slow else CALL[0]] += 1
                continue
            state = next(
                (k for k in FAULTS[_service(msmt["test_name"])] if set(VARIANTS[k].roles) == bad),
                None,
            )
            assert state is not None or not bad, (path.name, bad)
            seen[state or "ok"] += 1
    # Mostly ok, and every technique somewhere.
    assert seen["ok"] > max(n for k, n in seen.items() if k != "ok")
    assert set(seen) == {"ok", *CALL, *(k for faults in FAULTS.values() for k in faults)}, seen
    assert seen[CALL[0]] > seen[CALL[1]]
    doc = json.loads((tmp_path / "labels.json").read_text())
    assert doc["events"]
    uids = {e["event_id"] for e in doc["events"]}
    assert len(uids) == len(doc["events"])


def _service(test: str) -> str:
    return {"facebook_messenger": "messenger"}.get(test, test)
