"""Through a real circumvention tool in the simulated internet: the via outcomes.

Three worlds, each with a tool from Debian packages: dante (SOCKS5 with a UDP relay)
that the censor leaves alone (messages and calls restored), the same dante blocked
by the censor (still blocked, the tool named blocked), and microsocks (SOCKS5
without UDP) where only UDP is blocked (calls not carried, messages never blocked).
Each scenario's direct verdicts and via outcomes must hold in every one of five
runs in the same world. Needs root: skipped without it, except in CI.
"""

from __future__ import annotations

import json
import os

import pytest
from test_scenarios import mismatches

from voipwatch.sim.network import World
from voipwatch.sim.scenario import load, via_mismatches

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI") != "true",
    reason="the simulator needs root (network namespaces)",
)

VIA_SCENARIOS = ("tool_restores", "tool_blocked", "tool_tcp_only")
REPETITIONS = 5


@pytest.mark.parametrize("name", VIA_SCENARIOS)
def test_via_outcomes_hold_in_every_repetition(name: str) -> None:
    scenario = load(name)
    assert scenario.tool is not None
    assert scenario.via
    wrong: list[str] = []
    with World(scenario) as world:
        for i in range(REPETITIONS):
            done = world.run_probe(timeout=180)
            assert done.returncode == 0, done.stderr
            printed = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
            assert printed, f"run {i + 1}: no verdict"
            found = mismatches(scenario, printed) + via_mismatches(scenario, printed)
            wrong += [f"run {i + 1}: {w}" for w in found]
            # The evidence of both paths is in the measurement file, in x_via.
            ms = [json.loads(x) for x in world.measurements.read_text().splitlines()]
            for m in ms:
                x = m["test_keys"]["x_via"]
                assert x["tool"] == scenario.tool.kind
                assert x["dns"] == "tool"
                assert x["udp"] is (scenario.tool.kind == "dante" and scenario.tool.status == "ok")
                assert set(x["test_keys"]) >= {"tcp_connect", "requests"}
                assert "x_via" not in x["test_keys"]
    assert not wrong, f"{name}:\n" + "\n".join(wrong)
