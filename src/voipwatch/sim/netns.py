"""Network namespaces and the commands run inside them.

Every world lives in three namespaces named ``<prefix>-client``, ``-censor`` and
``-inet``; the prefix ``vw<pid>x<n>`` names the process that built it, so leftovers
of a crashed run can be told from the worlds of live processes.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from voipwatch.sim.errors import SimulationError

NETNS_ETC = Path("/etc/netns")
RUN_NETNS = Path("/var/run/netns")
# vw<pid>x<n>-<role>: the pid of the builder, a counter, the namespace's role.
NAME_RE = re.compile(r"^vw(?P<pid>\d+)x(?P<n>\d+)-(?P<role>[a-z]+)$")
TEMP_PREFIX = "voipwatch-sim-"


def run(
    argv: Sequence[str],
    *,
    ns: str | None = None,
    check: bool = True,
    input: str | None = None,
    timeout: float = 20.0,
) -> subprocess.CompletedProcess[str]:
    """Run a command (in namespace ``ns`` when given); a failure is one SimulationError line."""
    full = ["ip", "netns", "exec", ns, *argv] if ns else list(argv)
    try:
        proc = subprocess.run(
            full, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise SimulationError(
            f"{full[0]} is not installed: run scripts/install-system-deps"
        ) from None
    except subprocess.TimeoutExpired:
        raise SimulationError(f"{' '.join(full)} did not finish in {timeout:g} s") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit status {proc.returncode}"
        raise SimulationError(f"{' '.join(argv)} failed: {last}")
    return proc


def list_namespaces() -> list[str]:
    proc = run(["ip", "netns", "list"], check=False)
    # Lines look like "name" or "name (id: 3)".
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def add(name: str) -> None:
    run(["ip", "netns", "add", name])


def pids(name: str) -> list[int]:
    proc = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def kill_all_in(name: str, grace: float = 2.0) -> None:
    """Kill every process still inside namespace ``name`` (TERM, then KILL)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = pids(name)
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and pids(name):
            time.sleep(0.05)


def delete(name: str) -> None:
    """Remove a namespace, its processes, its veths and its /etc/netns folder."""
    if name in list_namespaces():
        kill_all_in(name)
        run(["ip", "netns", "del", name], check=False)
    etc = NETNS_ETC / name
    # Another process may be removing the same leftovers (two worlds built at once,
    # each cleaning up after crashed runs first): gone is what we wanted.
    with contextlib.suppress(FileNotFoundError):
        for f in etc.iterdir():
            f.unlink(missing_ok=True)
        etc.rmdir()
    with contextlib.suppress(OSError):
        NETNS_ETC.rmdir()  # only when empty: other tools may use it too


def write_resolv_conf(name: str, nameserver: str) -> None:
    """The namespace's /etc/resolv.conf (``ip netns exec`` bind-mounts this file)."""
    etc = NETNS_ETC / name
    try:
        etc.mkdir(parents=True, exist_ok=True)
    except FileNotFoundError:
        # Another world's teardown removed NETNS_ETC, empty, between our making it
        # and our folder in it: once our folder is in it, it stays.
        etc.mkdir(parents=True, exist_ok=True)
    (etc / "resolv.conf").write_text(f"nameserver {nameserver}\noptions timeout:2 attempts:1\n")
