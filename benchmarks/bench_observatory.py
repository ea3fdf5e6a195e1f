#!/usr/bin/env python
"""The running observatory under load: probes in simulated worlds upload to one server
that ingests, detects and announces while ``wrk`` reads its dashboard.

    sudo .venv/bin/python benchmarks/bench_observatory.py                 # 600 s, 21 probes
    sudo .venv/bin/python benchmarks/bench_observatory.py --seconds 60 --probes 3

One ``voipwatch serve --watch DIR --collector-spool DIR`` (a subprocess on
127.0.0.1, with a webhook to a receiver of this script, also on loopback) is the
collector and the store's one writer. Three simulated worlds (``voipwatch.sim``,
network namespaces; needs root), each with a different censor (by default
``ip_drop``: Telegram's addresses dropped; ``sni_reset``: Signal's TLS reset by
name; ``dns_nxdomain``: WhatsApp's names answered NXDOMAIN), hold ``--probes``
probes between them, each with its own upload queue. In each world the probes run
one after another (they share the world's one client address, and the test
helper limits requests per address), round-robin, for ``--seconds``.
Meanwhile ``wrk`` drives the dashboard (``--path``, ``/`` by default) with
``--clients`` connections in windows of ``--window`` seconds, each window's latency
distribution read by a Lua ``done`` hook (wrk's own ``--latency`` prints no p95).
Before the probes start, two 10 s windows on the idle server (``/api/v1/health``
and the page) are the run's baseline. Half-way, between two windows and once a
delivery is under way, the server is killed with SIGKILL and started again over the
same store and folder.

**How the uploads reach the server.** A world's namespaces have no link to the
host, by design: nothing a simulated probe sends can leave them, and the benchmark
keeps it so. Each probe runs as ``voipwatch probe --upload URL --queue DIR`` in its
world's client namespace: it measures, writes the measurements to its queue and
tries the collector, which it cannot reach from there (exit 1, "stay queued") —
exactly a volunteer whose network cannot reach the collector. On the host, one
uploader per world sends its probes' queues with the upload room's own code
(``voipwatch.upload.deliver``, what ``voipwatch upload --to`` runs), so the
measurements travel the path and the protocol a real probe's do, through the real
queue, and the namespaces stay sealed. Routing a veth to the host's loopback
would have tested the same client code while opening the worlds to the host.

The collector's per-address rate limit is raised (``--collector-rate``): every
probe's upload comes from 127.0.0.1 here, where deployed probes each have an
address of their own.

**Figures** (printed as a table; the last line is one JSON object):

- acknowledged vs stored: every uid the collector acknowledged, against the
  measurements the server's API lists when all is done (``/api/v1/measurements``,
  paged), each uid exactly once;
- per world: its test country and censored app; its measurements stored under that
  country; its stored measurements in the last snapshot without its block's event
  and in the first with it (the detector runs in every batch, so the event comes
  with the batch that completes its evidence), and the seconds from its first
  stored measurement; the apps of its ``block`` events (exactly the censored one),
  the event in its country's ``/feed.atom`` and in a signed webhook notice;
- dashboard latency: p50 / p95 / p99 of every wrk window, and the worst window's
  p95; wrk's non-2xx/3xx answers and socket errors;
- the server's RSS (``/proc/PID/status``, sampled each second): once it answers,
  once it answers again after the kill, peak, at the end;
- the kill: measurements acknowledged and still queued at that moment, uploads that
  failed while the server was down (expected, retried later) and any outside it.

Every loop is bounded in count and time; all traffic stays on loopback and in the
worlds' namespaces; servers, wrk, probes and namespaces are removed on exit, also
on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from voipwatch.alerts.webhook import SIGNATURE_HEADER
from voipwatch.errors import VoipwatchError
from voipwatch.sim.network import World
from voipwatch.sim.scenario import load, place_of
from voipwatch.upload import Queue, deliver

VOIPWATCH = [sys.executable, "-m", "voipwatch.cli"]
SCENARIOS = ("ip_drop", "sni_reset", "dns_nxdomain")
P95_GOAL_MS = 100.0
PROBE_TIMEOUT = 240.0
START_TIMEOUT = 120.0
DRAIN_SECONDS = 300.0  # after the probes: queues to empty, the last batch to land
BASELINE_S = 10  # seconds of each baseline window
KILL_WAIT = 120.0  # for an upload under way
MAX_PAGES = 200  # of 1000 measurements each, when listing what is stored
SECRET = b"bench_observatory webhook secret"

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "SOAK {\\"requests\\": %d, \\"p50\\": %d, \\"p95\\": %d, \\"p99\\": %d, \\"max\\": %d, "
    .. "\\"connect\\": %d, \\"read\\": %d, \\"write\\": %d, \\"status\\": %d, "
    .. "\\"timeout\\": %d}\\n",
    summary.requests, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- the server ---------------------------------------------------------------------


@dataclass
class Batch:
    at: float
    files: int
    new: int
    duplicate: int
    line: str


class Server:
    """``voipwatch serve --watch --collector-spool`` as a subprocess; its batch lines."""

    def __init__(self, work: Path, port: int, hook: str) -> None:
        self.work, self.port = work, port
        self.url = f"http://127.0.0.1:{port}"
        self.spool = work / "spool"
        self.spool.mkdir()
        key = work / "hook.key"
        key.write_bytes(SECRET)
        self.argv = [
            *VOIPWATCH, "serve", "--db", str(work / "store.duckdb"), "--port", str(port),
            "--watch", str(self.spool), "--collector-spool", str(self.spool),
            "--collector-rate", "60000", "--webhook", hook,
            "--webhook-secret-file", str(key),
        ]  # fmt: skip
        self.proc: subprocess.Popen[str] | None = None
        self.batches: list[Batch] = []
        self.log: list[str] = []
        self.batch_seen = threading.Condition()
        self.starts: list[float] = []

    def start(self) -> None:
        proc = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "400"},
        )  # fmt: skip
        self.proc = proc
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise SystemExit("the server stopped:\n" + "\n".join(self.log[-20:]))
            if time.monotonic() > deadline:
                raise SystemExit("the server did not answer within the start timeout")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.starts.append(time.monotonic())

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.rstrip()
            self.log.append(line)
            if " file(s): " in line and line.startswith("voipwatch serve:"):
                words = line.replace(",", "").split()
                b = Batch(time.monotonic(), int(words[2]), int(words[4]), int(words[6]), line)
                with self.batch_seen:
                    self.batches.append(b)
                    self.batch_seen.notify_all()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


# -- the webhook receiver ------------------------------------------------------------


class Hooks:
    """A loopback receiver of the server's webhook; keeps each notice it verified."""

    def __init__(self) -> None:
        notices: list[tuple[float, dict[str, Any]]] = []
        self.notices = notices
        self.bad = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sig = self.headers.get(SIGNATURE_HEADER, "")
                want = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
                if hmac.compare_digest(sig, want):
                    notices.append((time.monotonic(), json.loads(body)))
                else:
                    outer.bad += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def first(self, cc: str) -> float | None:
        for at, n in self.notices:
            if any(e.get("probe_cc") == cc for e in n.get("new", [])):
                return at
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- probes and uploads --------------------------------------------------------------


@dataclass
class WorldRun:
    name: str
    cc: str
    world: World
    queues: list[Path]
    runs: int = 0
    probe_failures: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    rejected: int = 0
    upload_errors: list[tuple[float, str]] = field(default_factory=list)
    first_ack: float | None = None
    app: str = ""
    stored_seen: int = 0  # the world's measurements in the last snapshot looked at
    first_stored_at: float | None = None
    before_event: int | None = None  # stored in the last snapshot without the event
    at_event: int | None = None  # stored in the first snapshot with it
    event_at: float | None = None
    event_id: str | None = None
    block_apps: list[str] = field(default_factory=list)
    stored: int = 0
    in_feed: bool = False


def probe_loop(w: WorldRun, url: str, until: float, stop: threading.Event) -> None:
    """The world's probes in turn, until ``until``; each run queues, then cannot upload."""
    n = 0
    while not stop.is_set() and time.monotonic() < until and n < 10_000:
        queue = w.queues[n % len(w.queues)]
        n += 1
        argv = w.world.probe_argv(["--upload", url, "--queue", str(queue)])
        try:
            done = w.world.run_in_client(argv, timeout=PROBE_TIMEOUT)
        except VoipwatchError as exc:
            w.probe_failures.append(str(exc))
            continue
        w.runs += 1
        # Exit 1 with "stay queued" is the expected end: the collector is out of reach.
        if done.returncode not in (0, 1) or "stay queued" not in done.stderr:
            w.probe_failures.append(f"exit {done.returncode}: {done.stderr.strip()[-200:]}")


class InFlight:
    """How many deliveries are under way (the kill waits for one)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    @contextlib.contextmanager
    def one(self) -> Iterator[None]:
        with self.lock:
            self.count += 1
        try:
            yield
        finally:
            with self.lock:
                self.count -= 1


def upload_loop(
    w: WorldRun,
    url: str,
    probes_done: threading.Event,
    stop: threading.Event,
    limit: float,
    flight: InFlight,
) -> None:
    """Send the world's queues from the host until the probes are done and all is sent."""

    def pause(seconds: float) -> None:
        stop.wait(seconds)

    with httpx.Client(timeout=10) as client:
        while not stop.is_set() and time.monotonic() < limit:
            finished = probes_done.is_set()  # read before looking at the queues
            left = 0
            for q in w.queues:
                queue = Queue(q)
                if not queue.pending():
                    continue
                with flight.one():
                    out = deliver(queue, url, client, sleep=pause)
                if out.acknowledged and w.first_ack is None:
                    w.first_ack = time.monotonic()
                w.acknowledged += out.acknowledged
                w.rejected += len(out.rejected)
                if out.queued:
                    left += out.queued
                    w.upload_errors.append((time.monotonic(), str(out.error)))
            if finished and left == 0 and not any(Queue(q).pending() for q in w.queues):
                return
            stop.wait(1.0)


def watch_events(
    server: Server, worlds: list[WorldRun], stop: threading.Event, limit: float
) -> None:
    """After each batch, ask the API what each world has stored and detected."""
    seen = 0

    def more() -> bool:
        return len(server.batches) > seen

    with httpx.Client(base_url=server.url, timeout=10) as client:
        while not stop.is_set() and time.monotonic() < limit:
            with server.batch_seen:
                server.batch_seen.wait_for(more, timeout=1.0)
                count = len(server.batches)
            if count == seen:
                continue
            seen = count
            for w in worlds:
                if w.event_id is not None:
                    continue
                try:
                    # Events first: a count read after them is never older than they are.
                    ev = client.get("/api/v1/events", params={"probe_cc": w.cc}).json()
                    n = stored_count(client, w.cc)
                except (httpx.HTTPError, ValueError, KeyError):
                    continue  # the server is down (the kill): asked again next batch
                if n and w.first_stored_at is None:
                    w.first_stored_at = time.monotonic()
                blocks = [e for e in ev.get("results", []) if e.get("kind") == "block"]
                if blocks:
                    w.event_at, w.event_id = time.monotonic(), str(blocks[0]["event_id"])
                    w.before_event, w.at_event = w.stored_seen, n
                w.stored_seen = n


# -- wrk -----------------------------------------------------------------------------


def wrk_window(
    url: str, seconds: int, clients: int, script: Path, procs: list[subprocess.Popen[str]]
) -> dict[str, int]:
    proc = subprocess.Popen(
        ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script),
         url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    procs.append(proc)
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    finally:
        procs.remove(proc)
    for line in out.splitlines():
        if line.startswith("SOAK "):
            result: dict[str, int] = json.loads(line[5:])
            return result
    raise SystemExit(f"wrk printed no figures:\n{out[-500:]}")


# -- the run -------------------------------------------------------------------------


def stored_count(client: httpx.Client, cc: str) -> int:
    agg = client.get("/api/v1/aggregation", params={"probe_cc": cc})
    agg.raise_for_status()
    return int(agg.json()["result"]["measurement_count"])


def stored_uids(url: str) -> list[str]:
    uids: list[str] = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for page in range(MAX_PAGES):
            r = client.get("/api/v1/measurements", params={"limit": 1000, "offset": page * 1000})
            r.raise_for_status()
            body = r.json()
            uids += [str(x["measurement_uid"]) for x in body["results"]]
            if not body["metadata"].get("next_url"):
                return uids
    raise SystemExit("more measurements stored than the benchmark can list")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(args: argparse.Namespace, work: Path, stack: contextlib.ExitStack) -> dict[str, Any]:
    hooks = Hooks()
    stack.callback(hooks.close)
    server = Server(work, free_port(), hooks.url)
    stack.callback(server.stop)
    script = work / "soak.lua"
    script.write_text(WRK_SCRIPT)
    wrk_procs: list[subprocess.Popen[str]] = []

    def kill_wrk() -> None:
        for p in list(wrk_procs):
            p.kill()

    stack.callback(kill_wrk)

    worlds: list[WorldRun] = []
    names = args.scenarios.split(",")
    for i, name in enumerate(names):
        scenario = load(name)
        t0 = time.monotonic()
        world = stack.enter_context(World(scenario))
        share = args.probes // len(names) + (1 if i < args.probes % len(names) else 0)
        queues = [work / "queues" / f"{name}-{k}" for k in range(max(1, share))]
        apps = sorted({r.app for r in scenario.censor if r.app})
        worlds.append(WorldRun(name, place_of(scenario).cc, world, queues, app=",".join(apps)))
        print(f"world {name} ({worlds[-1].cc}) built in {time.monotonic() - t0:.1f} s", flush=True)
    if len({w.cc for w in worlds}) != len(worlds):
        raise SystemExit("two worlds share a test country; choose other scenarios")

    server.start()
    load_start = loadavg()
    rss: list[tuple[int, int]] = []  # (pid, KiB)
    stop = threading.Event()
    stack.callback(stop.set)
    probes_done = threading.Event()
    flight = InFlight()

    def sample() -> None:
        while not stop.wait(1.0):
            pid = server.pid
            kib = rss_kib(pid) if pid else None
            if pid and kib is not None:
                rss.append((pid, kib))

    # The same run's baseline: the idle server, before any probe (an empty store).
    baseline = {
        "health": wrk_window(f"{server.url}/api/v1/health", BASELINE_S, args.clients, script,
                             wrk_procs),
        "page": wrk_window(server.url + args.path, BASELINE_S, args.clients, script, wrk_procs),
    }  # fmt: skip
    start = time.monotonic()
    until = start + args.seconds
    limit = until + PROBE_TIMEOUT + DRAIN_SECONDS
    threads = [threading.Thread(target=sample, daemon=True)]
    threads += [
        threading.Thread(target=watch_events, args=(server, worlds, stop, limit), daemon=True)
    ]
    probers = [
        threading.Thread(target=probe_loop, args=(w, server.url, until, stop), daemon=True)
        for w in worlds
    ]
    uploaders = [
        threading.Thread(
            target=upload_loop,
            args=(w, server.url, probes_done, stop, limit, flight),
            daemon=True,
        )
        for w in worlds
    ]
    for t in threads + probers + uploaders:
        t.start()

    windows: list[dict[str, int]] = []
    kill: dict[str, Any] = {}
    half = start + args.seconds / 2
    n = 0
    while time.monotonic() < until and n < 10_000:
        n += 1
        if not kill and time.monotonic() >= half:
            # In the middle of uploads: wait (bounded) for a delivery under way.
            wait_until = time.monotonic() + KILL_WAIT
            while flight.count == 0 and time.monotonic() < wait_until:
                time.sleep(0.01)
            kill["in_flight"] = flight.count
            kill["acknowledged"] = sum(len(w.acknowledged) for w in worlds)
            kill["queued"] = sum(len(Queue(q).pending()) for w in worlds for q in w.queues)
            kill["at"] = time.monotonic()
            server.kill9()
            time.sleep(2.0)  # uploads meet a dead server meanwhile
            server.start()
            kill["back"] = time.monotonic()
            kill["rss_kib"] = rss_kib(server.pid) if server.pid else None
            kill["down_s"] = round(kill["back"] - kill["at"], 1)
            print(f"killed (-9) and restarted the server: down {kill['down_s']} s", flush=True)
        left = int(until - time.monotonic())
        if left < 5:
            break
        seconds = min(args.window, left)
        if not kill and time.monotonic() + seconds > half:
            seconds = max(5, int(half - time.monotonic()) + 1)
        windows.append(wrk_window(server.url + args.path, seconds, args.clients, script,
                                  wrk_procs))  # fmt: skip
    for t in probers:
        t.join(PROBE_TIMEOUT + 30)
    probes_done.set()
    for t in uploaders:
        t.join(max(1.0, limit - time.monotonic()))
    # The last acknowledged measurements land in the next batch; wait for the spool.
    incoming = server.spool / "incoming"
    deadline = time.monotonic() + DRAIN_SECONDS
    while any(incoming.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(1.0)
    time.sleep(2.0)
    end_rss = rss_kib(server.pid) if server.pid else None
    load_end = loadavg()
    stored = stored_uids(server.url)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for w in worlds:
            feed = client.get("/feed.atom", params={"cc": w.cc}).text
            w.in_feed = w.event_id is not None and w.event_id in feed
            w.stored = stored_count(client, w.cc)
            events = client.get("/api/v1/events", params={"probe_cc": w.cc}).json()["results"]
            w.block_apps = sorted({str(e["service"]) for e in events if e["kind"] == "block"})
    stop.set()
    server.stop()
    return report(args, worlds, baseline, windows, rss, end_rss, kill, hooks, server, stored,
                  (load_start, load_end))  # fmt: skip


def report(
    args: argparse.Namespace,
    worlds: list[WorldRun],
    baseline: dict[str, dict[str, int]],
    windows: list[dict[str, int]],
    rss: list[tuple[int, int]],
    end_rss: int | None,
    kill: dict[str, Any],
    hooks: Hooks,
    server: Server,
    stored: list[str],
    loads: tuple[str, str],
) -> dict[str, Any]:
    acked = [u for w in worlds for u in w.acknowledged]
    ack_set, stored_set = set(acked), set(stored)
    exactly_once = len(stored) == len(stored_set) and ack_set == stored_set
    down = (kill.get("at", 0.0), kill.get("back", 0.0) + 15.0)
    errs = [(t, e) for w in worlds for t, e in w.upload_errors]
    in_outage = sum(1 for t, _ in errs if down[0] <= t <= down[1])
    p95s = [x["p95"] / 1000 for x in windows]
    wrk_errors = sum(x["connect"] + x["read"] + x["write"] + x["status"] + x["timeout"]
                     for x in windows)  # fmt: skip
    requests = sum(x["requests"] for x in windows)
    probe_failures = sum(len(w.probe_failures) for w in worlds)
    rejected = sum(w.rejected for w in worlds)
    mib = [k / 1024 for _, k in rss]
    start_mib = mib[0] if mib else 0.0
    restart_mib = (kill.get("rss_kib") or 0) / 1024  # once it answered again
    peak_mib = max(mib) if mib else 0.0
    end_mib = (end_rss or 0) / 1024
    print()
    print(f"soak: {args.seconds} s, {sum(len(w.queues) for w in worlds)} probes in "
          f"{len(worlds)} worlds, {args.clients} wrk clients on {args.path}; "
          f"load {loads[0]} at start, {loads[1]} at the end")  # fmt: skip
    print()
    print(f"{'world':13} {'cc':2} {'censored':9} {'probes':>6} {'runs':>4} {'acked':>5} "
          f"{'stored':>6} {'stored→event':>12} {'s→event':>7} {'blocks':10} {'feed':>4} "
          f"{'hook':>4}")  # fmt: skip
    results_worlds = []
    for w in worlds:
        hook_at = hooks.first(w.cc)
        secs = (round(w.event_at - w.first_stored_at, 1)
                if w.event_at is not None and w.first_stored_at is not None else None)  # fmt: skip
        seen = f"{w.before_event}→{w.at_event}" if w.at_event is not None else "-"
        blocks = ",".join(w.block_apps) or "NONE"
        print(f"{w.name:13} {w.cc:2} {w.app:9} {len(w.queues):>6} {w.runs:>4} "
              f"{len(set(w.acknowledged)):>5} {w.stored:>6} {seen:>12} "
              f"{secs if secs is not None else '-':>7} {blocks:10} "
              f"{'yes' if w.in_feed else 'NO':>4} {'yes' if hook_at else 'NO':>4}")  # fmt: skip
        results_worlds.append({
            "scenario": w.name, "cc": w.cc, "censored": w.app, "probes": len(w.queues),
            "runs": w.runs, "acknowledged": len(set(w.acknowledged)), "stored": w.stored,
            "stored_before_event": w.before_event, "stored_at_event": w.at_event,
            "seconds_to_event": secs, "event_id": w.event_id, "block_apps": w.block_apps,
            "in_feed": w.in_feed, "webhook": hook_at is not None,
            "probe_failures": w.probe_failures[:5],
        })  # fmt: skip
    worlds_ok = all(
        w.block_apps == w.app.split(",") and w.in_feed and hooks.first(w.cc) is not None
        and w.stored == len(set(w.acknowledged))
        for w in worlds
    )  # fmt: skip
    print(
        f"each world's block, and only it, an event, in the feed and announced; "
        f"stored under the world's country as acknowledged: {'PASS' if worlds_ok else 'FAIL'}"
    )
    print()
    done = server.batches
    print(f"acknowledged {len(ack_set)} (upload calls returning a uid: {len(acked)}); "
          f"stored {len(stored)} ({len(stored_set)} distinct uids); "
          f"exactly once: {'PASS' if exactly_once else 'FAIL'}")  # fmt: skip
    if not exactly_once:
        print(f"  acknowledged not stored: {len(ack_set - stored_set)}; "
              f"stored not acknowledged: {len(stored_set - ack_set)}")  # fmt: skip
    print(f"server batch lines: {len(done)} (a batch the kill cut short prints none): "
          f"{sum(b.new for b in done)} new, "
          f"{sum(b.duplicate for b in done)} duplicate measurement(s)")  # fmt: skip
    if p95s:
        worst = max(p95s)
        print(f"dashboard: {requests} requests in {len(windows)} windows; p95 per window "
              f"{min(p95s):.1f}–{worst:.1f} ms (median {statistics.median(p95s):.1f}); "
              f"worst p95 {'<' if worst < P95_GOAL_MS else '≥'} {P95_GOAL_MS:g} ms: "
              f"{'PASS' if worst < P95_GOAL_MS else 'FAIL'}")  # fmt: skip
        for name, x in baseline.items():
            print(f"  idle {name:6}: {x['requests']:6} req  p50 {x['p50'] / 1000:6.1f}  "
                  f"p95 {x['p95'] / 1000:6.1f}  p99 {x['p99'] / 1000:6.1f} ms  "
                  f"(before the probes; soak worst p95 / this "
                  f"{worst / max(x['p95'] / 1000, 0.001):.1f}x)")  # fmt: skip
        for i, x in enumerate(windows):
            print(f"  window {i + 1:2}: {x['requests']:6} req  p50 {x['p50'] / 1000:6.1f}  "
                  f"p95 {x['p95'] / 1000:6.1f}  p99 {x['p99'] / 1000:6.1f}  max "
                  f"{x['max'] / 1000:7.1f} ms  errors {x['connect'] + x['read'] + x['write']}"
                  f" socket, {x['status']} non-2xx/3xx, {x['timeout']} timeout")  # fmt: skip
    print(f"server RSS: start {start_mib:.0f} MiB, after the restart {restart_mib:.0f} MiB, "
          f"peak {peak_mib:.0f} MiB, end {end_mib:.0f} MiB")  # fmt: skip
    print(f"kill -9 with {kill.get('in_flight', 0)} delivery(ies) under way, after "
          f"{kill.get('acknowledged', 0)} acknowledged, {kill.get('queued', 0)} queued; "
          f"down {kill.get('down_s', '-')} s; "
          f"upload rounds left queued: {in_outage} during the outage, "
          f"{len(errs) - in_outage} outside it")  # fmt: skip
    errors = wrk_errors + len(errs) - in_outage + rejected + probe_failures + hooks.bad
    print(f"errors: wrk {wrk_errors}, uploads outside the outage {len(errs) - in_outage}, "
          f"rejected {rejected}, probe runs failed {probe_failures}, "
          f"bad webhook signatures {hooks.bad}: {'PASS' if errors == 0 else 'FAIL'}")  # fmt: skip
    return {
        "seconds": args.seconds, "probes": sum(len(w.queues) for w in worlds),
        "worlds": results_worlds, "acknowledged": len(ack_set), "stored": len(stored),
        "stored_distinct": len(stored_set), "exactly_once": exactly_once,
        "worlds_ok": worlds_ok,
        "batches": len(done), "requests": requests, "windows": len(windows),
        "p95_ms": [round(p, 1) for p in p95s],
        "idle_p95_ms": {k: round(x["p95"] / 1000, 1) for k, x in baseline.items()},
        "wrk_errors": wrk_errors,
        "rss_mib": {"start": round(start_mib), "restart": round(restart_mib),
                    "peak": round(peak_mib), "end": round(end_mib)},
        "kill": {k: v for k, v in kill.items() if k not in ("at", "back", "rss_kib")},
        "upload_failures": {"outage": in_outage, "other": len(errs) - in_outage},
        "rejected": rejected, "probe_failures": probe_failures, "errors": errors,
        "load": list(loads),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--probes", type=int, default=21, help="probes in all worlds together")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--window", type=int, default=30, help="seconds per wrk window")
    ap.add_argument("--path", default="/", help="the dashboard page wrk asks for")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_observatory: the simulator needs root")
    if shutil.which("wrk") is None:
        raise SystemExit("bench_observatory: wrk is not installed (apt-get install -y wrk)")
    args.seconds = max(30, min(args.seconds, 3600))
    args.window = max(5, min(args.window, 120))
    work = Path(tempfile.mkdtemp(prefix="vw-soak-"))
    try:
        with contextlib.ExitStack() as stack:
            result = run(args, work, stack)
        print(json.dumps(result))
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
