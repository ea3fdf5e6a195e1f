"""Privacy in the simulator: the simulated user's address is in nothing voipwatch writes.

The probe measures both planes of a simulated censored network from the client
namespace (address ``198.18.0.2``): its STUN answers carry that address back
(XOR-MAPPED-ADDRESS), the TLS, SIP and media servers see it. The measurements, the
probe's output, the logs of voipwatch's own test helpers in the world and the store
they are ingested into are searched for it in every form (see ``test_privacy.py``).
The probe looked that address up in the world's test location database, so every
measurement carries the world's test country and network: the address was used.
The simulated internet's third-party servers (nginx, unbound, coturn, kamailio) log
their clients as real ones do; their logs are not voipwatch's and are left out.
Needs root; skipped without it, except in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_privacy import leaks, needles

from voipwatch.store.rows import decompress

IN_CI = os.environ.get("CI") == "true"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and not IN_CI,
    reason="the simulator builds network namespaces: run the tests as root",
)


@pytest.mark.parametrize("scenario", ["baseline", "tool_restores"])
def test_simulated_client_address_is_nowhere(tmp_path: Path, scenario: str) -> None:
    """Also through a circumvention tool (``tool_restores``: the probe runs with
    ``--via``), where neither the client's address nor the tool's is written."""
    from voipwatch.sim import World, load_scenario
    from voipwatch.sim.plan import CLIENT, TOOL
    from voipwatch.sim.scenario import place_of

    written: dict[str, bytes] = {}
    with World(load_scenario(scenario), helper=True) as w:
        r = w.run_probe(["--plane", "all"], timeout=300)
        assert r.returncode == 0, r.stderr
        written["probe stdout"] = r.stdout.encode()
        written["probe stderr"] = r.stderr.encode()
        written["measurements"] = w.measurements.read_bytes()
        ours = [s for s in w.servers if "helper" in s.name or "voipwatch" in " ".join(s.argv)]
        assert ours, [s.name for s in w.servers]
        for s in ours:
            written[f"log of {s.name}"] = s.log.read_bytes()
        measurements = tmp_path / "m.jsonl"
        measurements.write_bytes(written["measurements"])
    assert b"stun_binding" in written["measurements"], "the call plane was measured"
    # The address was looked up (the world's test location is in every measurement)
    # and then kept nowhere (below).
    place = place_of(load_scenario(scenario))
    located = {
        (m["probe_cc"], m["probe_asn"], m["probe_network_name"])
        for m in map(json.loads, written["measurements"].splitlines())
    }
    assert located == {(place.cc, f"AS{place.asn}", place.network_name)}
    if scenario != "baseline":
        assert b'"x_via"' in written["measurements"], "the run through the tool was made"
        for name in ("measurements", "probe stdout"):
            assert not leaks(written[name], TOOL), f"the tool's address in the {name}"
    db = tmp_path / "s.duckdb"
    ingest = subprocess.run(
        [sys.executable, "-m", "voipwatch.cli", "ingest", "--db", str(db), str(measurements)],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert ingest.returncode == 0, ingest.stderr
    written["ingest output"] = ingest.stdout + ingest.stderr
    written["store file"] = db.read_bytes()
    found = {
        name: hits
        for name, data in written.items()
        if (hits := leaks(data, CLIENT, binary=name != "store file"))
    }
    print(f"scanned {len(written)} outputs for {len(needles(CLIENT))} forms of {CLIENT}")
    assert found == {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT raw_zstd, notes, source FROM measurements").fetchall()
        verdicts = con.execute("SELECT evidence FROM verdicts").fetchall()
    finally:
        con.close()
    assert rows
    for blob, *text in rows:
        assert not leaks(decompress(blob), CLIENT)
        assert not leaks(str(text).encode(), CLIENT)
    assert not leaks(str(verdicts).encode(), CLIENT)
