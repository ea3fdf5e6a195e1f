"""A simulated world's measurements carry that world's test country and network.

The simulator writes each world a MaxMind-format database mapping its client address
to the scenario's test location; the probe inside the world finds itself through the
same code as on a real network (the control helper's ``whoami``, the database
lookup). Worlds of different scenarios are in different test countries. Needs root;
skipped without it, except in CI.
"""

from __future__ import annotations

import json
import os

import pytest

from voipwatch.sim import World, load_scenario
from voipwatch.sim.scenario import builtin_names, parse, place_of

IN_CI = os.environ.get("CI") == "true"
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 and not IN_CI,
    reason="the simulator builds network namespaces: run the tests as root",
)

STATED = b"""
name = "located_sni_reset"
description = "Signal's TLS reset, in a world with a stated test location."
[location]
cc = "XQ"
asn = 64777
network_name = "Test Telecom"
[[censor]]
kind = "sni_reset"
app = "signal"
"""


def test_worlds_of_different_scenarios_are_in_different_places() -> None:
    places = {name: place_of(load_scenario(name)) for name in builtin_names()}
    assert len({(p.cc, p.asn) for p in places.values()}) == len(places)
    for p in places.values():
        assert p.cc.startswith("X")  # ISO 3166 user-assigned: never a real country
        assert 64512 <= p.asn <= 65534  # private-use AS numbers
    stated = place_of(parse(STATED, "stated.toml"))
    assert (stated.cc, stated.asn, stated.network_name) == ("XQ", 64777, "Test Telecom")


@needs_root
def test_measurements_carry_the_worlds_location() -> None:
    with World(parse(STATED, "stated.toml"), helper=True) as w:
        done = w.run_probe(["--apps", "signal,whatsapp"], timeout=180)
        assert done.returncode == 0, done.stderr
        measurements = [json.loads(x) for x in w.measurements.read_text().splitlines()]
    assert {m["test_name"] for m in measurements} == {"signal", "whatsapp"}
    for m in measurements:
        assert (m["probe_cc"], m["probe_asn"], m["probe_network_name"]) == (
            "XQ",
            "AS64777",
            "Test Telecom",
        )
        assert m["report_id"].split("_")[2:4] == ["XQ", "64777"]
    verdicts = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
    assert {(v["probe_cc"], v["probe_asn"]) for v in verdicts} == {("XQ", "AS64777")}
    assert "Location recorded: XQ, AS64777 (Test Telecom)" in done.stderr
