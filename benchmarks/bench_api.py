"""Benchmark: the API and the country pages under 50 concurrent clients, on loopback.

Builds (once, then reuses) a store of at least a million measurements — the bundled
measurements ingested, then copied across countries, networks and days in SQL (see
``tests/e2e/webstore.py``) — starts ``voipwatch serve`` on it in its own process, and
drives it with concurrent HTTP clients on loopback, phase by phase, each bounded in
time. The concurrent phases use ``wrk`` (Debian package ``wrk``), a load generator in
C: on a small machine the clients share the server's CPUs, and a Python client spends
several times the server's own CPU per request, so it would measure itself.

* ``baseline``: ``/api/v1/health`` (no store work): what the server and the client
  cost by themselves, the figure the others are compared with;
* ``cold``: every distinct aggregation and country page once, one at a time (httpx):
  what a query costs the first time (the store scan);
* ``aggregation``: a mix of MAT-like ``/api/v1/aggregation`` queries;
* ``country``: the country pages (HTML with every chart's spec);
* ``measurements``: ``/api/v1/measurements`` pages (a query the first time each);
* ``aggregation/1``, ``country/1``: the same cached answers for one client at a time,
  the cost of one request without queueing.

Prints p50/p95/p99, requests per second, errors, and each phase's p95 against the
baseline's. The goal: p95 under 100 ms at 50 clients, no errors.

    .venv/bin/python benchmarks/bench_api.py [--measurements N] [--clients 50] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import duckdb
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from webstore import build_store  # noqa: E402

from voipwatch.testing import COUNTRIES  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
#: Measurements per day and copy in the store webstore builds (12 countries).
PER_DAY_AND_COPY = 127.3
DAYS = 120
APPS = ("whatsapp", "telegram", "signal", "messenger")


def ensure_store(path: Path, target: int) -> tuple[int, float]:
    """The store at ``path`` with at least ``target`` measurements (built when short)."""
    if path.exists():
        with duckdb.connect(str(path), read_only=True) as con:
            row = con.execute("SELECT count(*) FROM measurements").fetchone()
        if row and row[0] >= target:
            return int(row[0]), 0.0
        path.unlink()
    started = time.perf_counter()
    per_copy = DAYS * PER_DAY_AND_COPY
    for _ in range(3):
        reps = math.ceil(target / per_copy)
        n = build_store(path, days=DAYS, reps=reps, observations=False, keep_raw=False)
        if n >= target:
            return n, time.perf_counter() - started
        per_copy = n / reps  # the estimate was high: size the copies from what was built
        path.unlink()
    raise RuntimeError(f"could not build a store of {target:,} measurements")


def aggregation_urls() -> list[str]:
    urls = []
    for c in COUNTRIES:
        for q in (
            {"probe_cc": c.cc, "axis_x": "measurement_start_day", "axis_y": "test_name"},
            {
                "probe_cc": c.cc,
                "axis_x": "measurement_start_day",
                "since": "2026-10-01",
                "until": "2026-11-02",
            },
            {"probe_cc": c.cc, "axis_x": "service", "axis_y": "plane"},
        ):
            urls.append("/api/v1/aggregation?" + urlencode(q))
    for app in APPS:
        urls.append(
            "/api/v1/aggregation?"
            + urlencode({"service": app, "axis_x": "probe_cc", "axis_y": "technique"})
        )
    for test in ("whatsapp", "telegram", "signal", "facebook_messenger"):
        urls.append(
            "/api/v1/aggregation?"
            + urlencode({"test_name": test, "axis_x": "probe_cc", "time_grain": "week"})
        )
    return urls


def country_urls() -> list[str]:
    return [f"/country/{c.cc}" for c in COUNTRIES]


def measurement_urls() -> list[str]:
    urls = []
    for c in COUNTRIES:
        urls.append("/api/v1/measurements?" + urlencode({"probe_cc": c.cc, "limit": 50}))
        urls.append(
            "/api/v1/measurements?"
            + urlencode(
                {
                    "probe_cc": c.cc,
                    "service": "telegram",
                    "verdict_status": "blocked,partial",
                    "limit": 50,
                }
            )
        )
    return urls


class Server:
    """``voipwatch serve`` in a child process on a free loopback port."""

    def __init__(self, db: Path, port: int, *, warm: bool = False) -> None:
        self.url = f"http://127.0.0.1:{port}"
        code = "import sys; from voipwatch.cli import main; sys.exit(main())"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--db", str(db), "--port", str(port)]
            + ([] if warm else ["--no-warm"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server stopped: {self.proc.stderr.read().decode()}")
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not answer in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def drive_once(base: str, urls: list[str]) -> dict[str, float]:
    """Send each URL once, one at a time: the cold cost of every distinct query."""
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for url in urls:
            t = time.perf_counter()
            try:
                r = await client.get(url)
                errors += r.status_code >= 400
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50": q[49] * 1000,
        "p95": q[94] * 1000,
        "p99": q[98] * 1000,
    }


#: wrk's script: the URLs round-robin, each connection starting at its own offset, and
#: one JSON line of figures at the end (latencies are in microseconds in wrk).
WRK_SCRIPT = """
local urls = {%s}
local counter = 0
request = function()
    counter = counter + 1
    return wrk.format("GET", urls[(counter %% #urls) + 1])
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        '\\nRESULT {"requests": %%d, "socket_errors": %%d, "status_errors": %%d, '
        .. '"seconds": %%f, "p50": %%f, "p95": %%f, "p99": %%f}\\n',
        summary.requests, e.connect + e.read + e.write + e.timeout, e.status,
        summary.duration / 1e6, latency:percentile(50) / 1e3,
        latency:percentile(95) / 1e3, latency:percentile(99) / 1e3))
end
"""


def drive(base: str, urls: list[str], *, clients: int, seconds: float) -> dict[str, float]:
    """``clients`` keep-alive connections sending ``urls`` round-robin for ``seconds``,
    each sending its next request when the last one is answered (a closed loop)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "urls.lua"
        script.write_text(WRK_SCRIPT % ", ".join(json.dumps(u) for u in urls))
        out = subprocess.run(
            [
                "wrk",
                "--threads",
                "1",
                "--connections",
                str(clients),
                "--duration",
                f"{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "--script",
                str(script),
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    r = json.loads(line.removeprefix("RESULT "))
    return {
        "requests": r["requests"],
        "errors": r["socket_errors"] + r["status_errors"],
        "rps": r["requests"] / r["seconds"],
        "p50": r["p50"],
        "p95": r["p95"],
        "p99": r["p99"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measurements", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--db", type=Path, default=OUT / "bench_api.duckdb")
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("wrk") is None:
        raise SystemExit("bench_api needs wrk, the HTTP load generator: apt-get install wrk")

    n, built = ensure_store(args.db, args.measurements)
    with duckdb.connect(str(args.db), read_only=True) as con:
        verdicts = con.execute("SELECT count(*) FROM verdicts").fetchone()
    size = args.db.stat().st_size / 1e6
    print(
        f"store: {n:,} measurements, {verdicts[0] if verdicts else 0:,} role verdicts, "
        f"{size:,.0f} MB" + (f", built in {built:.1f} s" if built else " (reused)")
    )
    print(
        f"cpus: {os.cpu_count()}; the server and the clients (wrk) share them; "
        f"{args.clients} clients, {args.seconds:g} s per phase"
    )

    server = Server(args.db, args.port)
    try:
        server.wait()
        aggs, countries, lists = aggregation_urls(), country_urls(), measurement_urls()
        results = {}
        results["baseline"] = drive(
            server.url, ["/api/v1/health"], clients=args.clients, seconds=args.seconds
        )
        results["cold"] = asyncio.run(drive_once(server.url, aggs + countries))
        for name, urls in (
            ("aggregation", aggs),
            ("country", countries),
            ("measurements", lists),
        ):
            results[name] = drive(server.url, urls, clients=args.clients, seconds=args.seconds)
        # One client at a time: what a cached answer costs the server and client alone.
        for name, urls in (("aggregation/1", aggs), ("country/1", countries)):
            results[name] = drive(server.url, urls, clients=1, seconds=args.seconds / 3)
    finally:
        server.stop()

    base = results["baseline"]["p95"]
    print(
        f"\n{'phase':<13}{'requests':>9}{'errors':>8}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'p95/base':>10}"
    )
    for name, r in results.items():
        print(
            f"{name:<13}{r['requests']:>9,}{r['errors']:>8}{r['rps']:>8.0f}{r['p50']:>9.1f}"
            f"{r['p95']:>9.1f}{r['p99']:>9.1f}{r['p95'] / base:>10.2f}"
        )
    warm = [results[k] for k in ("aggregation", "country")]
    goal = all(r["p95"] < 100 and r["errors"] == 0 for r in warm)
    print(
        f"\ngoal (aggregation and country p95 < 100 ms, no errors): {'met' if goal else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
