#!/usr/bin/env python
"""How fast voipwatch counts cells and detects events, against the bare cell aggregate.

    .venv/bin/python benchmarks/bench_events.py [--rows N] [--repeat R] [--workdir DIR]

1. Builds (once, cached in ``--workdir``) two stores of synthetic role verdicts,
   written straight into DuckDB by SQL: N/2 and N verdict rows (default N = 10
   million), five roles per measurement, 60 networks in 12 countries over eight
   weeks, 2 % random blocked verdicts, and injected blocks (a national one, a single
   network, one on a sparse network). Both stores cover the same networks, hours
   and series, so the larger one has more rows per cell, not more cells.
2. Runs each phase ``--repeat`` times (default 3) in its own child process, on a
   copy of the store, so that one phase's memory and caches cannot leak into
   another's figures:

   * ``scan``: DuckDB reads every verdict row (all the columns the cells use) and
     sums their lengths: the floor, since nothing can count rows without reading
     them;
   * ``group``: the bare aggregate that defines the cells — verdicts counted per
     (country, network, service, role, plane, hour) and status, straight from the
     verdict rows, which carry their measurement's country, network and hour.
     Nothing is written: the least any cell count can cost;
   * ``events``: ``build_cells`` on a store without cells, then ``detect_events`` on
     the cells it counted: what a first ``voipwatch events`` does.
3. Prints a table of medians, the goals (events ≤ 2 × the bare aggregate on N rows,
   judged in CPU time and stated in wall-clock time too; peak memory flat from N/2 to
   N), and a final JSON line with every figure.

Time is the wall-clock and the CPU time (every thread of the child) of the phase
inside the child (imports and opening the store excluded), and the kernel's share of
that CPU time (page faults, mostly). Memory is the child's
resident set size when the phase starts and when it ends (``/proc/self/status``), and
its maximum from ``wait4``. Every phase runs with the memory limit the events phase
sets for itself (``voipwatch.events.cells.MEMORY_LIMIT``). The machine's load
average is printed with each run: on a shared machine wall-clock ratios move with
it, CPU-time ratios much less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WORKDIR = REPO / "benchmarks" / "out"
#: Bump when the generator changes, so cached stores are rebuilt.
STORE_VERSION = 3
ROLES_PER_MEASUREMENT = 5
#: The events phase against the bare cell aggregate, on N rows.
GOAL_RATIO = 2.0
#: Peak memory counts as flat when doubling the rows adds less than this share.
FLAT_TOLERANCE = 0.15

COUNTRIES = ("IR", "RU", "BR", "PK", "TG", "ET", "GN", "UG", "VN", "KE", "EG", "CU")
NETWORKS = 60
SERVICES = (
    ("whatsapp", "signalling", ("endpoints", "registration", "relay", "stun", "web")),
    ("telegram", "signalling", ("dc", "web", "dc2", "dc3", "dc4")),
    ("signal", "signalling", ("chat", "storage", "sfu", "turn", "directory")),
    ("messenger", "signalling", ("edge", "api", "star", "cdn", "stun")),
)
DAYS = 56
START = "2026-01-05 00:00:00"


def _generate(path: Path, measurements: int) -> None:
    """A store of ``measurements`` measurements × 5 role verdicts, built by SQL."""
    sys.path.insert(0, str(REPO / "src"))
    from voipwatch.store import open_store
    from voipwatch.store.schema import VERDICT_MEASUREMENT_COLUMNS, verdict_measurement_sql

    copied = [name for name, _, _ in VERDICT_MEASUREMENT_COLUMNS]
    if path.exists():
        path.unlink()
    span = DAYS * 86400
    ccs = "[" + ", ".join(f"'{c}'" for c in COUNTRIES) + "]"
    with open_store(path, memory_limit="1GB") as store:
        con = store.con
        con.execute("SET enable_progress_bar = false")
        # Network n is in country n % 12; networks 0-11 are busy, 48-59 sparse (they
        # get a tenth of the measurements), the rest medium.
        con.execute(
            f"""
            INSERT INTO measurements
            SELECT 'k' || i, 'uid' || i, 'r' || (i // 50),
                   ['whatsapp', 'telegram', 'signal', 'facebook_messenger'][i % 4 + 1],
                   '0.1', {ccs}[(net % 12)::BIGINT + 1], 'AS' || (1000 + net),
                   TIMESTAMP '{START}' + to_seconds((i * {span}) // {measurements}),
                   NULL, 'ok', 1, '', 'd' || i, 'bench', i, 0, ''::BLOB
            FROM (SELECT i, CASE WHEN hash(i, 'sparse') % 10 = 0 THEN (48 + hash(i) % 12)::BIGINT
                                 ELSE (hash(i) % 48)::BIGINT END AS net
                  FROM range({measurements}) AS t(i))
            """
        )
        values = ", ".join(
            f"({k * 5 + j}, '{s}', '{s}/{r}', '{p}')"
            for k, (s, p, rs) in enumerate(SERVICES)
            for j, r in enumerate(rs)
        )
        con.execute(f"CREATE TEMP TABLE _roles AS FROM (VALUES {values}) AS t(idx, s, r, p)")
        # Blocks: one role of every IR network for a week (national); another role of
        # one network for four days; every role of a sparse network for ten days.
        con.execute(
            f"""
            INSERT INTO verdicts
            SELECT key, j, s, r, p,
                   CASE WHEN blocked THEN 'blocked' WHEN noise < 20 THEN 'blocked'
                        WHEN noise < 50 THEN 'failure' ELSE 'ok' END,
                   CASE WHEN blocked THEN 'ip.blocked' WHEN noise < 20 THEN 'tcp.timeout' END,
                   0.9, '[]', false, {", ".join(copied)}
            FROM (
                SELECT m.key, t.j, r.s, r.r, r.p, hash(m.key, t.j) % 1000 AS noise,
                       {verdict_measurement_sql(start_is_text=False)},
                       (m.probe_cc = 'IR' AND t.j = 0 AND m.measurement_start_time
                          BETWEEN TIMESTAMP '2026-02-02' AND TIMESTAMP '2026-02-09')
                       OR (m.probe_asn = 'AS1005' AND t.j = 1 AND m.measurement_start_time
                          BETWEEN TIMESTAMP '2026-01-26' AND TIMESTAMP '2026-01-30')
                       OR (m.probe_asn = 'AS1050' AND m.measurement_start_time
                          BETWEEN TIMESTAMP '2026-02-10' AND TIMESTAMP '2026-02-20')
                         AS blocked
                FROM measurements AS m
                CROSS JOIN range({ROLES_PER_MEASUREMENT}) AS t(j)
                JOIN _roles AS r ON r.idx = 5 * list_position(
                    ['whatsapp', 'telegram', 'signal', 'facebook_messenger'], m.test_name
                ) - 5 + t.j
            )
            """
        )
        con.execute("CHECKPOINT")


SCAN = """
    SELECT sum(length(key) + length(service) + length(role) + length(plane)
               + length(status) + length(coalesce(technique, '')))
    FROM verdicts
"""
GROUP = """
    SELECT count(*), sum(ok), sum(blocked) FROM (
        SELECT measurement_cc, measurement_asn, service, role, plane, measurement_hour,
               count(*) FILTER (WHERE status = 'ok') AS ok,
               count(*) FILTER (WHERE status = 'blocked') AS blocked,
               count(*) FILTER (WHERE status = 'partial'),
               count(*) FILTER (WHERE status = 'degraded'),
               count(*) FILTER (WHERE status = 'down'),
               count(*) FILTER (WHERE status = 'failure'),
               count(*) FILTER (WHERE status = 'unknown'),
               count(*)
        FROM verdicts GROUP BY ALL
    )
"""


def _rss_mb() -> float:
    """This process's resident set size now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _child(phase: str, db: Path) -> None:
    """Run one phase in this process; print its figures as one JSON line."""
    sys.path.insert(0, str(REPO / "src"))
    from voipwatch.events.cells import MEMORY_LIMIT, build_cells
    from voipwatch.events.detect import detect_events
    from voipwatch.store import open_store
    from voipwatch.store.cells import Cells

    # Every phase gets the memory the events phase takes for itself.
    with open_store(db, memory_limit=MEMORY_LIMIT) as store:
        store.con.execute("SET enable_progress_bar = false")
        start_mb = _rss_mb()
        started = time.perf_counter()
        cpu_started = time.process_time()
        sys_started = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        extra: dict[str, Any] = {}
        if phase == "scan":
            store.con.execute(SCAN).fetchall()
        elif phase == "group":
            store.con.execute(GROUP).fetchall()
        else:
            counted: dict[str, Any] = {}

            def cells() -> Cells | None:
                stats = build_cells(store)
                counted.update(cells=stats.cells, seconds=time.perf_counter() - started)
                return stats.counted

            # As ``voipwatch events`` does: the counted cells go straight to detection.
            events = detect_events(store, cells=cells())
            t_cells = counted["seconds"]
            extra = {
                "cells": counted["cells"],
                "cells_seconds": round(t_cells, 3),
                "detect_seconds": round(time.perf_counter() - started - t_cells, 3),
                "events": len(events),
                "kinds": sorted({e.kind for e in events}),
            }
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        # The kernel's share: page faults, which on this kind of machine can cost as
        # much as the work (huge pages compacted on first touch).
        sys_cpu = resource.getrusage(resource.RUSAGE_SELF).ru_stime - sys_started
        end_mb = _rss_mb()
    figures = {
        "phase": phase,
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "sys_seconds": round(sys_cpu, 3),
    }
    print(json.dumps({**figures, "start_mb": start_mb, "end_mb": end_mb, **extra}))


def _run(phase: str, store: Path, workdir: Path) -> dict[str, Any]:
    copy = workdir / f"run-{phase.replace('+', '_')}.duckdb"
    # A write-ahead log left by an interrupted run would be replayed onto the copy.
    Path(str(copy) + ".wal").unlink(missing_ok=True)
    shutil.copyfile(store, copy)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", phase, "--db", str(copy)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    copy.unlink(missing_ok=True)
    Path(str(copy) + ".wal").unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SystemExit(f"phase {phase} failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["peak_mb"] = round(usage.ru_maxrss / 1024, 1)
    result["load"] = round(os.getloadavg()[0], 1)
    # The whole child's CPU time, imports and opening the store included.
    result["process_cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    return result


PHASES = ("scan", "group", "events")


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall-clock time, with the median CPU time of all runs."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    middle = dict(ordered[len(ordered) // 2])
    middle["cpu_seconds"] = statistics.median(r["cpu_seconds"] for r in runs)
    middle["sys_seconds"] = statistics.median(r["sys_seconds"] for r in runs)
    middle["all_seconds"] = [r["seconds"] for r in runs]
    middle["all_cpu_seconds"] = [r["cpu_seconds"] for r in runs]
    middle["all_load"] = [r["load"] for r in runs]
    return middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="verdict rows (N)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each phase (median)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.db)
        return
    if args.build:
        _generate(args.db, args.build)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [args.rows // 2, args.rows]
    figures: dict[str, Any] = {"rows": sizes, "cpus": os.cpu_count(), "runs": []}
    print(
        f"{'rows':>12} {'phase':>7} {'seconds':>8} {'× group':>8} {'CPU s':>7} {'× group':>8} "
        f"{'of it sys':>9} {'MB start':>8} {'peak':>6} {'end':>6} {'load':>5}"
    )
    for rows in sizes:
        measurements = rows // ROLES_PER_MEASUREMENT
        store = args.workdir / f"events-v{STORE_VERSION}-r{rows}.duckdb"
        if not store.exists():
            print(f"building a store of {rows:,} verdict rows (not timed) ...", file=sys.stderr)
            tmp = store.with_suffix(".tmp")
            # In a child: a child's peak memory counts its parent's at the fork, so a
            # store built here would raise every phase's peak to the builder's.
            subprocess.run(
                [sys.executable, __file__, "--build", str(measurements), "--db", str(tmp)],
                check=True,
            )
            tmp.rename(store)
        # Phases interleaved, so that a change of the machine's load falls on each.
        runs: dict[str, list[dict[str, Any]]] = {p: [] for p in PHASES}
        for _ in range(max(1, args.repeat)):
            for phase in PHASES:
                runs[phase].append(_run(phase, store, args.workdir))
        group = _median(runs["group"])
        for phase in PHASES:
            r = _median(runs[phase])
            r["ratio"] = round(r["seconds"] / group["seconds"], 2)
            r["cpu_ratio"] = round(r["cpu_seconds"] / max(group["cpu_seconds"], 1e-3), 2)
            r["rows"] = rows
            figures["runs"].append(r)
            print(
                f"{rows:>12,} {phase:>7} {r['seconds']:>8.2f} {r['ratio']:>8.2f} "
                f"{r['cpu_seconds']:>7.2f} {r['cpu_ratio']:>8.2f} {r['sys_seconds']:>9.2f} "
                f"{r['start_mb']:>8.1f} "
                f"{r['peak_mb']:>6.1f} {r['end_mb']:>6.1f} {r['load']:>5.1f}"
                + (
                    f"   cells {r['cells_seconds']:.2f} s + detection "
                    f"{r['detect_seconds']:.2f} s; {r['cells']:,} cells, {r['events']} events"
                    if phase == "events"
                    else ""
                ),
                flush=True,
            )
    events = [r for r in figures["runs"] if r["phase"] == "events"]
    at_n = events[-1]
    growth = events[1]["peak_mb"] / events[0]["peak_mb"] - 1
    # CPU time is the figure to judge by: on a shared machine a phase gets a varying
    # share of the cores, and the bare aggregate runs on every core where most of the
    # events phase runs on one.
    figures["goal_ratio"] = {
        "limit": GOAL_RATIO,
        "rows": args.rows,
        "ratio": at_n["ratio"],
        "cpu_ratio": at_n["cpu_ratio"],
        "pass": at_n["cpu_ratio"] <= GOAL_RATIO,
        "pass_wall": at_n["ratio"] <= GOAL_RATIO,
    }
    figures["memory_growth"] = {
        "limit": FLAT_TOLERANCE,
        "growth": round(growth, 3),
        "pass": growth < FLAT_TOLERANCE,
    }

    def verdict(ratio: float) -> str:
        return "PASS" if ratio <= GOAL_RATIO else "FAIL"

    print(
        f"events ≤ {GOAL_RATIO} × the bare cell aggregate on {args.rows:,} rows: "
        f"{verdict(at_n['cpu_ratio'])} in CPU time ({at_n['cpu_ratio']} ×); "
        f"{verdict(at_n['ratio'])} in wall-clock time ({at_n['ratio']} ×, load "
        f"{', '.join(str(x) for x in at_n['all_load'])})"
    )
    print(
        f"peak memory flat (N/2 → N): {'PASS' if growth < FLAT_TOLERANCE else 'FAIL'} "
        f"({events[0]['peak_mb']} → {events[1]['peak_mb']} MB, {growth:+.1%})"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
