#!/usr/bin/env python
"""How the per-file work scales on Dask, against the same work run serially.

    .venv/bin/python benchmarks/bench_scale.py [--corpus DIR] [--workdir DIR] [--min-gb 2]

1. Takes a corpus of ``.jsonl.gz`` IM measurements: the one ``bench_verdicts.py``
   builds (``--corpus``, default ``benchmarks/out/corpus-v1-n200000``), topped up with
   more files of the same generator in ``--workdir`` until it holds ``--min-gb``
   gigabytes of ``.jsonl.gz`` (generation is not timed, and cached).
2. Runs, each in its own child process:

   * ``map``: the pure per-file work of ingest (read, judge, write the rows as
     Parquet parts; :func:`voipwatch.store.pipeline.run_job`) over every file, in
     this process (serial), then on a Dask LocalCluster of 1 and of 2 worker
     processes, and of 2 on the first half of the files (memory must not grow with
     the input). Parts are deleted as each file completes.
   * ``ingest``: ``voipwatch ingest --engine serial|dask`` end to end into a fresh
     store, where this machine's DuckDB loads the workers' Parquet parts.

3. Prints throughput, the speedups, peak memory per worker (each worker process's
   ``VmHWM``, sampled from ``/proc``), the goals, and a final JSON line.

Goals: the map on 2 Dask workers >= 1.7x the map on 1; Dask with 1 worker within
15 % of serial; peak worker memory < 500 MB and growing < 15 % from N/2 to N.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_verdicts as bv

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO / "benchmarks" / "out" / "corpus-v1-n200000"
DEFAULT_WORKDIR = REPO / "benchmarks" / "out"
EXTRA_VERSION = 1
EXTRA_PER_FILE = 25_000
GOAL_SPEEDUP = 1.7
GOAL_DASK1 = 0.15
GOAL_WORKER_MB = 500.0
FLAT_TOLERANCE = 0.15


# --- corpus -------------------------------------------------------------------------


def corpus(base: Path, workdir: Path, samples: Path, min_gb: float) -> list[Path]:
    """The base corpus's files, plus generated ones until ``min_gb`` GB of .jsonl.gz."""
    files = sorted(base.glob("*.jsonl.gz")) if base.is_dir() else []
    if not files:
        sys.exit(f"no .jsonl.gz files in {base}: run bench_verdicts.py first, or --corpus")
    extra = workdir / f"scale-extra-v{EXTRA_VERSION}"
    extra.mkdir(parents=True, exist_ok=True)
    have = sorted(extra.glob("*.jsonl.gz"))
    total = sum(f.stat().st_size for f in [*files, *have])
    jobs = []
    i = len(have)
    while total < min_gb * 1e9:
        jobs.append((samples, extra / f"extra-{i:02d}.jsonl.gz", EXTRA_PER_FILE, 5000 + i))
        total += files[0].stat().st_size  # a generated file is about as large as a base one
        i += 1
    if jobs:
        print(f"corpus: generating {len(jobs)} more files in {extra} ...", file=sys.stderr)
        with multiprocessing.Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
            pool.map(bv._write_file, jobs)
    files += sorted(extra.glob("*.jsonl.gz"))
    return files


# --- phases (child processes) --------------------------------------------------------


def phase_map(engine_name: str, workers: int, files: list[Path], spill: Path) -> dict[str, Any]:
    """Run the per-file work of ingest over ``files`` on an engine; no store."""
    from voipwatch.engine import create_engine
    from voipwatch.store.ingest import BATCH_BYTES, BATCH_SIZE
    from voipwatch.store.pipeline import FileJob, run_job

    spill.mkdir(parents=True, exist_ok=True)
    jobs = [
        FileJob(i, str(p), str(spill), BATCH_SIZE, BATCH_BYTES, None) for i, p in enumerate(files)
    ]
    started = time.perf_counter()
    engine = create_engine(
        engine_name, workers=None if engine_name == "serial" else workers, items=len(jobs)
    )
    ready = time.perf_counter()
    n = 0
    with engine:
        # Results come back in input order; parts of a finished file are deleted at once.
        for pending in engine.map(run_job, jobs):
            result = pending.result()
            n += result.measurements
            for name in result.parts:
                for f in spill.glob(f"{name}.*"):
                    f.unlink()
    return {
        "measurements": n,
        "startup_seconds": round(ready - started, 3),
        "work_seconds": round(time.perf_counter() - ready, 3),
    }


# --- measuring -----------------------------------------------------------------------


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class WorkerSampler:
    """Peak RSS (``VmHWM``) of every worker process below ``root``, kept per process."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peaks_kb: dict[int, int] = {}
        self.root_kb = 0
        self.tree = bv.TreeSampler(root, interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in bv._descendants(self.root):
                if pid == self.root:
                    self.root_kb = max(self.root_kb, bv._status_kb(pid, "VmHWM:"))
                    continue
                cmd = _cmdline(pid)
                if b"resource_tracker" in cmd or not cmd:
                    continue
                hwm = bv._status_kb(pid, "VmHWM:")
                if hwm:
                    self.peaks_kb[pid] = max(self.peaks_kb.get(pid, 0), hwm)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.tree.stop()


def run(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd`` in a child; wall and CPU time, its own and its workers' peak memory."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        sampler = WorkerSampler(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        sampler.stop()
        rc = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if rc != 0:
        sys.exit(
            f"{' '.join(cmd[:6])} ... failed ({rc}): {stderr.decode(errors='replace')[-3000:]}"
        )
    lines = [ln for ln in stdout.splitlines() if ln.strip().startswith(b"{")]
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    workers = sorted(sampler.peaks_kb.values(), reverse=True)
    result.update(
        seconds=round(wall, 3),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 3),
        # wait4's ru_maxrss is the largest of the child and the workers it waited for;
        # the child's own peak is sampled (at least its peak until its last sample).
        main_peak_mb=round((sampler.root_kb or usage.ru_maxrss) / 1024, 1),
        worker_peaks_mb=[round(k / 1024, 1) for k in workers],
        worker_peak_mb=round(workers[0] / 1024, 1) if workers else None,
        tree_peak_pss_mb=round(sampler.tree.peak_pss_kb / 1024, 1),
    )
    return result


def measure_map(engine: str, workers: int, files: list[Path], workdir: Path) -> dict[str, Any]:
    spill = workdir / f"scale-parts-{engine}-{workers}"
    shutil.rmtree(spill, ignore_errors=True)
    me = str(Path(__file__).resolve())
    cmd = [sys.executable, me, "--phase", engine, "--workers", str(workers), "--spill", str(spill)]
    try:
        r = run([*cmd, *map(str, files)])
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    # Start-up (a LocalCluster takes a few seconds) is reported, not counted: it does
    # not grow with the input.
    r["per_second"] = round(r["measurements"] / r["work_seconds"], 1)
    return r


def measure_ingest(engine: str, workers: int, files: list[Path], workdir: Path) -> dict[str, Any]:
    db = workdir / f"scale-{engine}-{workers}.duckdb"
    for p in (db, Path(f"{db}.wal")):
        p.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "voipwatch.cli", "ingest", "--json", "--engine", engine]
    if engine != "serial":
        cmd += ["--workers", str(workers)]
    try:
        r = run([*cmd, "--db", str(db), *map(str, files)])
    finally:
        for p in (db, Path(f"{db}.wal")):
            p.unlink(missing_ok=True)
    r["measurements"] = r.get("new", 0)
    r["per_second"] = round(r["measurements"] / r["seconds"], 1)
    return r


# --- report --------------------------------------------------------------------------


def report(files: list[Path], half: list[Path], res: dict[str, Any]) -> dict[str, Any]:
    gz = sum(f.stat().st_size for f in files) / 1e9
    gz_half = sum(f.stat().st_size for f in half) / 1e9
    print()
    print(
        f"corpus: {res['map_serial']['measurements']} measurements in {len(files)} .jsonl.gz "
        f"files, {gz:.2f} GB compressed (N/2: {len(half)} files, {gz_half:.2f} GB)"
    )
    load = res["load_average"]
    print(f"load average {load['before']} before, {load['after']} after, {load['cpus']} CPUs")
    print()
    header = (
        f"{'run':<28}{'msmts':>8}{'seconds':>9}{'msmt/s':>9}{'CPUs':>6}"
        f"{'worker peak MB':>16}{'main MB':>9}"
    )
    print(header)
    print("-" * len(header))
    for key, label in ROWS:
        r = res.get(key)
        if r is None:
            continue
        secs = r.get("work_seconds", r["seconds"])
        cpus = r["cpu_seconds"] / r["seconds"] if r["seconds"] else 0.0
        peak = r["worker_peak_mb"]
        print(
            f"{label:<28}{r['measurements']:>8}{secs:>9.1f}{r['per_second']:>9.0f}{cpus:>6.2f}"
            f"{(f'{peak:.0f}' if peak else '-'):>16}{r['main_peak_mb']:>9.0f}"
        )
    print(
        "(map: the per-file work alone, start-up excluded (a LocalCluster's is printed in "
        "the JSON);\n ingest: the whole command, the store included. CPUs: CPU time of the "
        "child and its\n workers / wall time. worker peak: the largest VmHWM of any worker "
        "process.)"
    )
    print()
    summary: dict[str, Any] = {"files": len(files), "gz_gb": round(gz, 3), "phases": res}
    goals: dict[str, Any] = {}
    summary["goals"] = goals

    def verdict(name: str, ok: bool, text: str) -> None:
        goals[name] = {"ok": ok, "detail": text}
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {text}")

    serial = res["map_serial"]["per_second"]
    one = res["map_dask_1"]["per_second"]
    two = res["map_dask_2"]["per_second"]
    print("goals:")
    verdict(
        "dask_speedup",
        two / one >= GOAL_SPEEDUP,
        f"map on 2 workers {two / one:.2f}x 1 worker (goal >= {GOAL_SPEEDUP}x)",
    )
    verdict(
        "dask_overhead",
        one >= (1 - GOAL_DASK1) * serial,
        f"map on 1 Dask worker {one / serial:.2f}x serial (goal >= {1 - GOAL_DASK1:.2f}x)",
    )
    half_peak = res["map_dask_2_half"]["worker_peak_mb"] or 0.0
    full_peaks = [
        res[k]["worker_peak_mb"] or 0.0
        for k in ("map_dask_1", "map_dask_2", "ingest_dask_2")
        if k in res
    ]
    full_peak = res["map_dask_2"]["worker_peak_mb"] or 0.0
    growth = full_peak / half_peak - 1 if half_peak else 0.0
    verdict(
        "worker_memory",
        max(full_peaks) < GOAL_WORKER_MB and growth < FLAT_TOLERANCE,
        f"peak per worker {max(full_peaks):.0f} MB; 2 workers {half_peak:.0f} MB at N/2, "
        f"{full_peak:.0f} MB at N ({growth:+.0%}; goal < {GOAL_WORKER_MB:.0f} MB and growth "
        f"< {FLAT_TOLERANCE:.0%})",
    )
    if "ingest_serial" in res and "ingest_dask_2" in res:
        s, d1 = res["ingest_serial"]["per_second"], res.get("ingest_dask_1", {}).get("per_second")
        d2 = res["ingest_dask_2"]["per_second"]
        print(
            f"  ingest end to end: dask-2 {d2 / s:.2f}x serial"
            + (f", dask-1 {d1 / s:.2f}x serial" if d1 else "")
            + " (the store's loading runs in one process beside the workers)"
        )
    summary["speedup"] = round(two / one, 3)
    summary["dask1_vs_serial"] = round(one / serial, 3)
    return summary


ROWS = (
    ("map_serial", "map, serial"),
    ("map_dask_1", "map, Dask 1 worker"),
    ("map_dask_2", "map, Dask 2 workers"),
    ("map_dask_2_half", "map, Dask 2 workers, N/2"),
    ("ingest_serial", "ingest, serial"),
    ("ingest_dask_1", "ingest, Dask 1 worker"),
    ("ingest_dask_2", "ingest, Dask 2 workers"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="base corpus folder")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="for extra files, stores")
    ap.add_argument("--samples", type=Path, default=bv.DEFAULT_SAMPLES, help="OONI samples")
    ap.add_argument("--min-gb", type=float, default=2.0, help="corpus size in GB of .jsonl.gz")
    ap.add_argument("--no-ingest", action="store_true", help="skip the end-to-end ingest runs")
    ap.add_argument("--phase", choices=("serial", "dask"), help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--spill", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase:
        print(json.dumps(phase_map(args.phase, args.workers, args.files, args.spill)))
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    files = corpus(args.corpus, args.workdir, args.samples, args.min_gb)
    half = files[: len(files) // 2]
    res: dict[str, Any] = {}
    load_before = os.getloadavg()[0]
    steps = [
        ("map_serial", lambda: measure_map("serial", 1, files, args.workdir)),
        ("map_dask_1", lambda: measure_map("dask", 1, files, args.workdir)),
        ("map_dask_2", lambda: measure_map("dask", 2, files, args.workdir)),
        ("map_dask_2_half", lambda: measure_map("dask", 2, half, args.workdir)),
    ]
    if not args.no_ingest:
        steps += [
            ("ingest_serial", lambda: measure_ingest("serial", 1, files, args.workdir)),
            ("ingest_dask_1", lambda: measure_ingest("dask", 1, files, args.workdir)),
            ("ingest_dask_2", lambda: measure_ingest("dask", 2, files, args.workdir)),
        ]
    for key, step in steps:
        print(f"running {key} ...", file=sys.stderr, flush=True)
        res[key] = step()
        print(f"  {res[key]['per_second']:.0f} msmt/s", file=sys.stderr, flush=True)
    res["load_average"] = {
        "before": round(load_before, 2),
        "after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    summary = report(files, half, res)
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
