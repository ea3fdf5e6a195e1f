#!/usr/bin/env python
"""voipwatch's judging against OONI's own scorer, side by side on the same bytes.

    .venv/bin/python benchmarks/bench_fastpath.py [--measurements N] [--rounds R]
        [--fastpath-python PY] [--anchor DIR]

The anchor is OONI's fastpath (``fastpath.core.score_measurement``) from
``../shared/anchors/ooni-fastpath``, run by an interpreter that has its dependencies
(``--fastpath-python``; see ``../shared/anchors/README.md`` for the venv). Its
statsd timers are taken off and its fingerprint table left empty (as when its database
is out of reach), so the anchor is measured at its fastest, although voipwatch still
matches OONI's fingerprints; ``--with-fingerprints`` adds a run of fastpath with the
table loaded from OONI's ``blocking-fingerprints`` CSVs, as production loads it.

The corpus is ``bench_verdicts.py``'s (real IM samples and web_connectivity runs on
messaging domains, replicated with fresh identities and varied outcomes). Each round
runs, in child processes, in alternating order:

* ``memory``: the files decompressed once into a list of lines before the clock
  starts; then voipwatch's ``judge_bytes(line)`` against fastpath's
  ``score_measurement(ujson.loads(line))`` on each line;
* ``jsonl.gz``: the same from the files: voipwatch's ``read_paths`` + ``judge``,
  fastpath's ``gzip.open`` line by line (its own feeders read lz4 cans so, line by
  line) + ``ujson.loads`` + ``score_measurement``.

Each child times its loop only (not interpreter start, imports or loading) and
reports its CPU share; the driver prints the median throughput of each side, the
ratio voipwatch / fastpath per round and its median, by CPU time and by wall time,
and the load average. The goal is voipwatch >= 2x fastpath both ways, by CPU time:
both loops are single-threaded and read files already in the page cache, so CPU
time is the work done, and it is what a busy machine distorts least. The last line is
JSON with every figure. The child of the anchor imports only the standard library
and fastpath, so this file's top-level imports stay in the standard library.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_ANCHOR = SHARED / "anchors" / "ooni-fastpath"
DEFAULT_FINGERPRINTS = SHARED / "ooni-samples" / "ooni__blocking-fingerprints"
DEFAULT_FASTPATH_PY = Path("/tmp/fastpath-venv/bin/python")
GOAL = 2.0
MODES = ("memory", "jsonl.gz")


# --- children -----------------------------------------------------------------------


def _lines(files: list[Path]) -> list[bytes]:
    out: list[bytes] = []
    for f in files:
        out += [ln for ln in gzip.decompress(f.read_bytes()).split(b"\n") if ln.strip()]
    return out


def _timed(run: Any, digest: Any) -> dict[str, Any]:
    """Time ``run()``; the digest of what it returned is taken after the clock stops."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = len(out)
    return {
        "measurements": n,
        "seconds": round(wall, 3),
        "cpu_share": round(cpu / wall, 3) if wall else 0.0,
        "per_second": round(n / wall, 1) if wall else 0.0,
        "per_cpu_second": round(n / cpu, 1) if cpu else 0.0,
        "digest": digest(out),
    }


def child_voipwatch(mode: str, files: list[Path]) -> dict[str, Any]:
    import msgspec

    from voipwatch.ooni.reader import Problem, read_paths
    from voipwatch.verdicts import judge, judge_bytes

    encode = msgspec.json.Encoder().encode

    def digest(js: list[Any]) -> str:
        # Of every judgement: shows that a faster engine says exactly the same.
        return hashlib.sha256(b"".join(encode(j) for j in js)).hexdigest()

    if mode == "memory":
        lines = _lines(files)

        def run() -> list[Any]:
            return [judge_bytes(line) for line in lines]
    else:

        def run() -> list[Any]:
            return [judge(r) for r in read_paths(files) if not isinstance(r, Problem)]

    return _timed(run, digest)


def _load_fastpath_fingerprints(core: Any, folder: Path) -> int:
    """Fill fastpath's table from OONI's CSVs; ``os.devnull`` leaves it empty."""
    if str(folder) == os.devnull:
        return 0
    fields = (
        "name",
        "scope",
        "other_names",
        "location_found",
        "pattern_type",
        "pattern",
        "confidence_no_fp",
        "expected_countries",
    )
    tables = []
    for kind in ("dns", "http"):
        with (folder / f"fingerprints_{kind}.csv").open(newline="") as fh:
            tables.append([{k: row[k] for k in fields} for row in csv.DictReader(fh)])
    core.fingerprints = core.prepare_fingerprints(*tables)
    return sum(map(len, tables))


def child_fastpath(mode: str, files: list[Path], fp_folder: Path) -> dict[str, Any]:
    import ujson
    from fastpath import core

    loaded = _load_fastpath_fingerprints(core, fp_folder)
    # Without the statsd timers (a UDP packet per call): the anchor at its fastest.
    core.match_fingerprints = core.match_fingerprints.__wrapped__
    score = core.score_measurement.__wrapped__

    def digest(scores: list[dict[str, Any]]) -> str:
        return hashlib.sha256(ujson.dumps(scores, sort_keys=True).encode()).hexdigest()

    if mode == "memory":
        lines = _lines(files)

        def run() -> list[dict[str, Any]]:
            return [score(ujson.loads(line)) for line in lines]
    else:

        def run() -> list[dict[str, Any]]:
            out = []
            for f in files:
                with gzip.open(f, "rb") as fh:
                    out += [score(ujson.loads(line)) for line in fh if line.strip()]
            return out

    result = _timed(run, digest)
    result["fingerprints"] = loaded
    return result


# --- driver -------------------------------------------------------------------------


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(cmd, capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--measurements", type=int, default=20_000, help="corpus size (20000)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    ap.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "out")
    ap.add_argument("--samples", type=Path, default=SHARED / "ooni-samples")
    ap.add_argument("--anchor", type=Path, default=DEFAULT_ANCHOR, help="fastpath's folder")
    ap.add_argument(
        "--with-fingerprints",
        action="store_true",
        help="also run fastpath with OONI's fingerprint table loaded, as in production",
    )
    ap.add_argument("--fingerprints", type=Path, default=DEFAULT_FINGERPRINTS)
    ap.add_argument(
        "--fastpath-python",
        type=Path,
        default=Path(os.environ.get("FASTPATH_PYTHON", DEFAULT_FASTPATH_PY)),
        help=f"an interpreter with fastpath's dependencies (default {DEFAULT_FASTPATH_PY})",
    )
    ap.add_argument("--child", choices=["voipwatch", "fastpath"], help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child == "voipwatch":
        print(json.dumps(child_voipwatch(args.mode, args.files)))
        return
    if args.child == "fastpath":
        print(json.dumps(child_fastpath(args.mode, args.files, args.fingerprints)))
        return

    if not (args.anchor / "fastpath" / "core.py").is_file():
        ap.error(f"fastpath not found under {args.anchor} (see --anchor)")
    if not args.fastpath_python.exists():
        ap.error(f"{args.fastpath_python} not found: make fastpath's venv (see --fastpath-python)")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_verdicts import build_corpus

    args.workdir.mkdir(parents=True, exist_ok=True)
    files, info = build_corpus(args.measurements, args.workdir, args.samples)
    me = str(Path(__file__).resolve())
    names = [str(f) for f in files]
    fp_env = {**os.environ, "PYTHONPATH": str(args.anchor.resolve())}
    fp_cmd = [str(args.fastpath_python), me, "--child", "fastpath"]
    # contender -> (command, environment)
    cmds: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "voipwatch": ([sys.executable, me, "--child", "voipwatch"], None),
        "fastpath": ([*fp_cmd, "--fingerprints", os.devnull], fp_env),
    }
    if args.with_fingerprints:
        cmds["fastpath_fp"] = ([*fp_cmd, "--fingerprints", str(args.fingerprints)], fp_env)
    load_before = os.getloadavg()
    res: dict[str, dict[str, list[dict[str, Any]]]] = {m: {k: [] for k in cmds} for m in MODES}
    for r in range(args.rounds):
        for mode in MODES:
            # Alternate who goes first, so neither always meets the same machine state.
            order = list(cmds) if r % 2 == 0 else list(reversed(cmds))
            for who in order:
                print(f"round {r + 1}/{args.rounds}: {who} {mode} ...", file=sys.stderr)
                cmd, env = cmds[who]
                res[mode][who].append(run_child([*cmd, "--mode", mode, *names], env))
    load_after = os.getloadavg()
    summary = report(args, info, res)
    summary["load_average"] = {
        "before": round(load_before[0], 2),
        "after": round(load_after[0], 2),
        "cpus": os.cpu_count(),
    }
    print(
        f"load average: {load_before[0]:.2f} before, {load_after[0]:.2f} after, on "
        f"{os.cpu_count()} CPUs"
    )
    print(json.dumps(summary, separators=(",", ":")))


def report(
    args: argparse.Namespace, info: dict[str, Any], res: dict[str, dict[str, list[dict[str, Any]]]]
) -> dict[str, Any]:
    """Print the table and the goal; return every figure for the JSON line."""
    n = info["measurements"]
    print()
    print(
        f"corpus: {n} measurements, {info['raw_bytes'] / 1e6:.0f} MB of JSON "
        f"({info['raw_bytes'] / n / 1e3:.1f} kB each), {len(info['files'])} .jsonl.gz files"
    )
    print(f"fastpath: {args.anchor}, {args.rounds} interleaved rounds")
    anchors = [k for k in res[MODES[0]] if k != "voipwatch"]
    labels = {"fastpath": "fastpath", "fastpath_fp": "fastpath+fingerprints"}
    print()
    summary: dict[str, Any] = {"measurements": n, "rounds": args.rounds}
    ok = True
    for mode in MODES:
        v = res[mode]["voipwatch"]
        vps = statistics.median(a["per_second"] for a in v)
        vcpu = statistics.median(a["per_cpu_second"] for a in v)
        print(f"{mode}: voipwatch {vcpu:.0f}/CPU-s, {vps:.0f}/s (CPU share {_shares(v)})")
        summary[mode] = {"voipwatch_per_cpu_second": vcpu, "voipwatch_per_second": vps}
        summary[mode]["voipwatch"] = v
        for k in anchors:
            f = res[mode][k]
            fcpu = statistics.median(b["per_cpu_second"] for b in f)
            fps = statistics.median(b["per_second"] for b in f)
            pairs = list(zip(v, f, strict=True))
            cpu_ratios = [a["per_cpu_second"] / b["per_cpu_second"] for a, b in pairs]
            wall_ratios = [a["per_second"] / b["per_second"] for a, b in pairs]
            ratio, wall_ratio = statistics.median(cpu_ratios), statistics.median(wall_ratios)
            if k == "fastpath":
                ok &= ratio >= GOAL
            print(
                f"  {labels[k]:<22}{fcpu:>7.0f}/CPU-s, {fps:.0f}/s (CPU share {_shares(f)})\n"
                f"  voipwatch/{labels[k]}: {ratio:.2f}x by CPU time (rounds "
                f"{', '.join(f'{x:.2f}' for x in cpu_ratios)}), {wall_ratio:.2f}x by wall "
                f"time (rounds {', '.join(f'{x:.2f}' for x in wall_ratios)})"
            )
            summary[mode][k] = {
                "per_cpu_second": fcpu,
                "per_second": fps,
                "ratio": round(ratio, 3),
                "ratios": [round(x, 3) for x in cpu_ratios],
                "wall_ratio": round(wall_ratio, 3),
                "wall_ratios": [round(x, 3) for x in wall_ratios],
                "runs": f,
            }
    digests = {a.pop("digest") for m in MODES for a in res[m]["voipwatch"]}
    for m in MODES:
        for k in anchors:
            for a in res[m][k]:
                a.pop("digest")
    summary["verdicts_digest"] = sorted(digests)
    print(
        "(/CPU-s, /s: medians over rounds of measurements judged per second of CPU time "
        "and of wall time,\n loop only; ratios: medians of the per-round ratios, the goal "
        "on CPU time, which other work\n on the machine distorts far less than wall time; "
        "CPU share: CPU time / wall time of each\n round's loop; fastpath without its "
        "fingerprint table, the fastest it runs: voipwatch still\n matches its own)"
    )
    print(f"verdicts digest: {', '.join(sorted(digests))}")
    if len(digests) != 1:
        print("note: the verdicts differ between runs of the same corpus")
    starved = [
        f"{m}/{k}"
        for m in MODES
        for k in res[m]
        if statistics.median(a["cpu_share"] for a in res[m][k]) < 0.9
    ]
    if starved:
        print(
            f"note: {', '.join(starved)} got less than 90% of a CPU: other work was running, "
            "so throughputs are low and\n noisy; the ratios, from alternating rounds, less so"
        )
    print(f"  [{'PASS' if ok else 'FAIL'}] voipwatch >= {GOAL}x fastpath in memory and from .gz")
    summary["goal_met"] = ok
    return summary


def _shares(runs: list[dict[str, Any]]) -> str:
    return "/".join(f"{a['cpu_share']:.2f}" for a in runs)


if __name__ == "__main__":
    main()
