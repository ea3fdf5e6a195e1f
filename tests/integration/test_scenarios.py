"""Every built-in scenario gives exactly the expected verdict for every app role.

The probe runs inside a simulated censored network built from real servers
(unbound, nginx) and real packet filtering (nftables, iptables); nothing leaves the
simulation's namespaces. Needs root: skipped without it, except in CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voipwatch.sim.scenario import builtin_names, load
from voipwatch.sim.world import MEDIA_HELPER_MODULE

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI") != "true",
    reason="the simulator needs root (network namespaces)",
)

VOIPWATCH = [sys.executable, "-m", "voipwatch.cli"]


def simulate(name: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [*VOIPWATCH, "simulate", name, "--json"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("name", builtin_names())
def test_scenario_verdicts_role_by_role(name: str) -> None:
    scenario = load(name)
    if scenario.plane != "signalling" and importlib.util.find_spec(MEDIA_HELPER_MODULE) is None:
        pytest.skip(f"{MEDIA_HELPER_MODULE} is not available: the call plane cannot be judged")
    verdicts = simulate(name)
    assert verdicts, "the probe printed no verdict"
    expected = {e.role: e for e in scenario.expect}
    # A role can be judged by several tests (WhatsApp Web by the signalling test and by
    # the throughput A/B): the worst verdict is the role's.
    worst = ("blocked", "partial", "degraded", "down", "failure", "unknown", "ok")
    seen: dict[str, tuple[str, str | None, bool]] = {}
    for v in verdicts:
        assert v["status"] != "failure", v
        for s in v["services"]:  # type: ignore[attr-defined]
            got = (s["status"], s["technique"], s.get("confirmed", False))
            prev = seen.get(s["role"])
            if prev is None or worst.index(got[0]) < worst.index(prev[0]):
                seen[s["role"]] = got
    wrong = []
    for role, got in sorted(seen.items()):
        e = expected.get(role)
        ok = e.matches(*got) if e is not None else got[0] == "ok"
        if not ok:
            want = f"{e.statuses} {e.technique} confirmed={e.confirmed}" if e else "ok"
            wrong.append(f"{role}: got {got}, want {want}")
    missing = set(expected) - set(seen)
    assert not wrong, f"{name}:\n" + "\n".join(wrong)
    assert not missing, f"{name}: roles not measured: {sorted(missing)}"


def test_probe_output_round_trips_through_verdicts(tmp_path: Path) -> None:
    """`voipwatch verdicts` on the probe's --out file gives what the probe printed."""
    from voipwatch.sim.world import World

    with World(load("combined")) as world:
        done = world.run_probe()
        assert done.returncode == 0, done.stderr
        out = tmp_path / "measurements.jsonl"
        out.write_bytes(world.measurements.read_bytes())
    printed = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
    again = subprocess.run(
        [*VOIPWATCH, "verdicts", "--json", str(out)], capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0, again.stderr
    rejudged = [json.loads(x) for x in again.stdout.splitlines() if x.strip()]
    assert rejudged == printed
    assert {v["status"] for v in printed} >= {"confirmed", "anomaly"}
