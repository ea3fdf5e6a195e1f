"""The simulator cleans up after a crash of the probe or of a server inside a world.

``test_sim_world.py`` covers an exception, a SIGTERM of the simulation and a SIGKILL
of it (then ``cleanup_stale``). Here the crash is inside the world: the probe killed
with SIGKILL halfway through its run in the client namespace, and a server of the
simulated internet killed the same way. The probe still finishes against a world with
a dead server (the dead server's targets fail, nothing else), and tearing the world
down leaves no namespace, no process and no temporary folder. Needs root (the
simulator builds network namespaces); skipped without it, except in CI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI") == "true"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and not IN_CI,
    reason="the simulator builds network namespaces: run the tests as root",
)


def nothing_left(prefix: str, client: str) -> None:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in names
    assert not Path(f"/etc/netns/{client}").exists()
    left = subprocess.run(["pgrep", "-f", prefix], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout
    assert not list(Path("/tmp").glob(f"voipwatch-sim-{prefix}-*"))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def world() -> Iterator[Any]:
    from voipwatch.sim import World, load_scenario

    w = World(load_scenario("baseline"), helper=True)
    w.__enter__()
    prefix, client = w.prefix, w.client
    try:
        yield w
    finally:
        w.__exit__(None, None, None)
    nothing_left(prefix, client)


def test_probe_killed_inside_the_world(world: Any) -> None:
    # --residual keeps the probe busy for minutes (it waits out the censor's memory of
    # a trigger), so on a fast machine it is still measuring when it is killed.
    proc = world.popen_in_client(
        world.probe_argv(["--plane", "all", "--residual"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Until it has written its first measurement: then it is busy measuring.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if world.measurements.exists() and world.measurements.stat().st_size > 0:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    assert proc.poll() is None, "the probe was still running when killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # A torn measurement line is what a crash leaves; the next run appends whole ones.
    r = world.run_probe(["--plane", "signalling", "--apps", "signal"], timeout=180)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr


def test_server_killed_inside_the_world(world: Any) -> None:
    servers = [s for s in world.servers if s.proc is not None and s.proc.poll() is None]
    assert servers, "the world runs servers"
    victim = next((s for s in servers if "nginx" in s.name), servers[0])
    assert victim.proc is not None
    os.killpg(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait(timeout=30)
    assert not alive(victim.proc.pid)
    r = world.run_probe(["--plane", "signalling", "--apps", "signal,whatsapp"], timeout=180)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    verdicts = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert verdicts, "the probe measured the world with a dead server"
