#!/usr/bin/env python
"""How fast voipwatch judges and stores OONI IM measurements, against a parse floor.

    .venv/bin/python benchmarks/bench_verdicts.py [--measurements N] [--workdir DIR]

1. Builds (once, cached in ``--workdir``) a corpus of N instant-messaging measurements
   as several ``.jsonl.gz`` files: real OONI samples of whatsapp, telegram, signal,
   facebook_messenger and stun_reachability, and web_connectivity runs on messaging
   domains (from ``../shared/ooni-samples``), replicated with fresh identities
   (report_id, start time, country, network) and varied outcomes (TCP timeouts,
   connection resets, NXDOMAIN).
2. Runs each phase in its own child process, so that one phase's memory cannot leak
   into another's figures:

   * ``parse``: gzip lines + ``orjson.loads`` each (the floor: nothing can read
     measurements faster than parsing them);
   * ``verdicts``: ``read_paths`` + ``judge`` + JSON encoding of each verdict, what
     ``voipwatch verdicts --json`` does;
   * ``ingest``: ``voipwatch ingest`` into a fresh DuckDB file, with its default
     number of worker processes (one per CPU, at most one per file; printed).

   ``verdicts`` and ``ingest`` run on the first half of the corpus and on all of it,
   to show that peak memory does not grow with the input.
3. Prints a table, the goals (verdicts >= 0.75x parse, ingest >= 0.40x parse, peak
   memory < 500 MB and flat) and a final JSON line with every figure.

Throughput is wall-clock time of the whole child process (interpreter start and
imports included) divided by the number of measurements; peak memory is the child's
maximum resident set size from ``wait4``, and for ingest, which runs worker
processes, the peak of the summed resident sets of the child and all its
descendants, sampled from ``/proc``. Generation time is not measured.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLES = REPO.parent / "shared" / "ooni-samples"
DEFAULT_WORKDIR = REPO / "benchmarks" / "out"
#: Bump when the generator changes, so cached corpora are rebuilt.
CORPUS_VERSION = 1
#: Files per corpus; even, so that the first half of the files is half the corpus.
FILES = 8
GOAL_VERDICTS = 0.75
GOAL_INGEST = 0.40
GOAL_PEAK_MB = 500.0
#: Peak memory counts as flat when doubling the input adds less than this share.
FLAT_TOLERANCE = 0.15

IM_TESTS = {
    "whatsapp",
    "telegram",
    "signal",
    "facebook_messenger",
    "stun_reachability",
    "stunreachability",
}
IM_DOMAINS = (
    "whatsapp.com",
    "whatsapp.net",
    "telegram.org",
    "telegram.me",
    "t.me",
    "signal.org",
    "viber.com",
    "skype.com",
    "messenger.com",
    "zoom.us",
    "imo.im",
    "line.me",
    "wechat.com",
)
SAMPLE_FILES = ("derived/all_raw_measurements.jsonl", "more/all_im.jsonl")
COUNTRIES = (
    "IR",
    "RU",
    "CN",
    "TR",
    "EG",
    "ET",
    "PK",
    "IN",
    "BR",
    "US",
    "IT",
    "DE",
    "AE",
    "SA",
    "VN",
    "MM",
    "BY",
    "UZ",
    "TM",
    "KZ",
    "UG",
    "TZ",
    "NG",
    "ZW",
    "CU",
    "VE",
    "ID",
    "MY",
    "LK",
    "BD",
    "IQ",
    "SY",
    "JO",
    "MA",
    "DZ",
    "SD",
    "ML",
    "GN",
    "TG",
    "CM",
)


# --- corpus -------------------------------------------------------------------------


def _is_im_domain(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    host = (urlsplit(url).hostname or "").lower()
    return any(host == d or host.endswith("." + d) for d in IM_DOMAINS)


def load_bases(samples: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Real IM-test measurements and IM-domain web_connectivity ones, deduplicated."""
    im: list[dict[str, Any]] = []
    web: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    for name in SAMPLE_FILES:
        with (samples / name).open("rb") as fh:
            for line in fh:
                d = orjson.loads(line)
                ident = orjson.dumps(
                    [
                        d.get(k)
                        for k in ("report_id", "input", "measurement_start_time", "test_name")
                    ]
                )
                if ident in seen:
                    continue
                seen.add(ident)
                if d.get("test_name") in IM_TESTS:
                    im.append(d)
                elif d.get("test_name") == "web_connectivity" and _is_im_domain(d.get("input")):
                    web.append(d)
    if not im or not web:
        sys.exit(f"no IM samples found under {samples}")
    return im, web


_TIMEOUT = {"success": False, "failure": "generic_timeout_error", "blocked": False}
_APP_BLOCKED = {
    "whatsapp": ("whatsapp_web_status", "whatsapp_web_failure"),
    "telegram": ("telegram_web_status", "telegram_web_failure"),
    "signal": ("signal_backend_status", "signal_backend_failure"),
}


def _tcp_timeouts(tk: dict[str, Any], test: str, rng: random.Random) -> None:
    tcs = tk.get("tcp_connect")
    if not isinstance(tcs, list) or not tcs:
        return
    share = rng.choice((0.5, 1.0))
    tk["tcp_connect"] = [
        {**tc, "status": dict(_TIMEOUT)} if isinstance(tc, dict) and rng.random() < share else tc
        for tc in tcs
    ]
    if share == 1.0:
        if test == "whatsapp":
            tk["whatsapp_endpoints_status"] = "blocked"
        elif test == "telegram":
            tk["telegram_tcp_blocking"] = True
        elif test == "facebook_messenger":
            tk["facebook_tcp_blocking"] = True


def _resets(tk: dict[str, Any], test: str, rng: random.Random) -> None:
    reqs = tk.get("requests")
    if isinstance(reqs, list) and reqs:
        tk["requests"] = [
            {**r, "failure": "connection_reset", "response": None}
            if isinstance(r, dict) and rng.random() < 0.7
            else r
            for r in reqs
        ]
    tls = tk.get("tls_handshakes")
    if isinstance(tls, list) and tls:
        tk["tls_handshakes"] = [
            {**h, "failure": "connection_reset"} if isinstance(h, dict) else h for h in tls
        ]
    if test in _APP_BLOCKED:
        status, failure = _APP_BLOCKED[test]
        tk[status] = "blocked"
        tk[failure] = "connection_reset"
    elif test == "web_connectivity":
        tk.update(
            http_experiment_failure="connection_reset", blocking="http-failure", accessible=False
        )


def _nxdomain(tk: dict[str, Any], test: str, rng: random.Random) -> None:
    qs = tk.get("queries")
    if isinstance(qs, list) and qs:
        tk["queries"] = [
            {**q, "failure": "dns_nxdomain_error", "answers": None} if isinstance(q, dict) else q
            for q in qs
        ]
    if test == "web_connectivity":
        tk.update(dns_experiment_failure="dns_nxdomain_error", blocking="dns", accessible=False)
    elif test == "facebook_messenger":
        tk["facebook_dns_blocking"] = True


def make_measurement(base: dict[str, Any], rng: random.Random, t0: datetime) -> bytes:
    """A copy of ``base`` with a fresh identity and, sometimes, a blocked outcome.

    Copies are shallow except where they change: the bulk of a measurement (bodies,
    network events, certificates) is shared with the base and only serialised.
    """
    m = dict(base)
    test = m.get("test_name") or ""
    cc = rng.choice(COUNTRIES)
    # A handful of networks per country (str hash() is salted per process: no use here).
    asn = 1000 + COUNTRIES.index(cc) * 997 + rng.randrange(8)
    start = t0 + timedelta(seconds=rng.randrange(60 * 86400))
    suffix = "".join(
        rng.choices("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=16)
    )
    m["report_id"] = f"{start:%Y%m%dT%H%M%SZ}_{test.replace('_', '')}_{cc}_{asn}_n1_{suffix}"
    m["measurement_start_time"] = f"{start:%Y-%m-%d %H:%M:%S}"
    m["test_start_time"] = f"{start - timedelta(seconds=rng.randrange(1, 30)):%Y-%m-%d %H:%M:%S}"
    m["probe_cc"] = cc
    m["probe_asn"] = f"AS{asn}"
    m.pop("measurement_uid", None)
    tk = m.get("test_keys")
    if isinstance(tk, dict):
        roll = rng.random()
        if roll < 0.30:
            tk = dict(tk)
            if roll < 0.12:
                _tcp_timeouts(tk, test, rng)
            elif roll < 0.22:
                _resets(tk, test, rng)
            else:
                _nxdomain(tk, test, rng)
            m["test_keys"] = tk
    return orjson.dumps(m)


_BASES: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None


def _write_file(job: tuple[Path, Path, int, int]) -> dict[str, Any]:
    """Write one corpus file (runs in a worker process)."""
    global _BASES
    samples, path, count, seed = job
    if _BASES is None:
        _BASES = load_bases(samples)
    im, web = _BASES
    rng = random.Random(seed)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    tests: Counter[str] = Counter()
    raw_bytes = 0
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wb", compresslevel=1) as fh:
        for _ in range(count):
            base = rng.choice(im) if rng.random() < 0.6 else rng.choice(web)
            line = make_measurement(base, rng, t0)
            fh.write(line)
            fh.write(b"\n")
            raw_bytes += len(line) + 1
            tests[base.get("test_name") or ""] += 1
    tmp.rename(path)
    return {
        "file": path.name,
        "measurements": count,
        "raw_bytes": raw_bytes,
        "gz_bytes": path.stat().st_size,
        "tests": dict(tests),
        "bases": {"im_tests": len(im), "web_connectivity_im_domains": len(web)},
    }


def build_corpus(n: int, workdir: Path, samples: Path) -> tuple[list[Path], dict[str, Any]]:
    """Return the corpus files (building them unless a complete copy is cached)."""
    d = workdir / f"corpus-v{CORPUS_VERSION}-n{n}"
    manifest = d / "manifest.json"
    if manifest.exists():
        info = json.loads(manifest.read_text())
        files = [d / f["file"] for f in info["files"]]
        if all(p.exists() for p in files):
            print(f"corpus: reusing {d}", file=sys.stderr)
            return files, info
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    counts = [n // FILES + (1 if i < n % FILES else 0) for i in range(FILES)]
    jobs = [(samples, d / f"part-{i:02d}.jsonl.gz", c, 1000 + i) for i, c in enumerate(counts)]
    print(f"corpus: generating {n} measurements in {d} ...", file=sys.stderr)
    t = time.perf_counter()
    with multiprocessing.Pool(min(FILES, os.cpu_count() or 1)) as pool:
        parts = pool.map(_write_file, jobs)
    info = {
        "version": CORPUS_VERSION,
        "measurements": n,
        "base_measurements": parts[0]["bases"],
        "files": parts,
        "raw_bytes": sum(p["raw_bytes"] for p in parts),
        "gz_bytes": sum(p["gz_bytes"] for p in parts),
        "tests": dict(sum((Counter(p["tests"]) for p in parts), Counter())),
    }
    manifest.write_text(json.dumps(info, indent=2))  # written last: marks completion
    print(f"corpus: generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return [d / p["file"] for p in parts], info


# --- phases (each runs in its own child process) -------------------------------------


def phase_parse(files: list[Path]) -> dict[str, Any]:
    """The floor, as anyone would write it: ``gzip`` lines, ``orjson.loads`` each."""
    n = 0
    for f in files:
        with gzip.open(f, "rb") as fh:
            for line in fh:
                orjson.loads(line)
                n += 1
    return {"measurements": n}


def phase_parse_reader(files: list[Path]) -> dict[str, Any]:
    """For reference: voipwatch's own line reader feeding ``orjson.loads``.

    The reader inflates gzip faster than ``gzip.GzipFile``; this row shows how much of
    the verdicts figure comes from that rather than from judging being cheap.
    """
    from voipwatch.ooni.reader import Problem, read_paths

    n = 0
    for item in read_paths(files):
        if not isinstance(item, Problem):
            orjson.loads(item.raw)
            n += 1
    return {"measurements": n}


def phase_verdicts(files: list[Path]) -> dict[str, Any]:
    """What ``voipwatch verdicts --json`` does, writing to /dev/null."""
    import msgspec

    from voipwatch.ooni.reader import Problem, read_paths
    from voipwatch.verdicts import judge

    encoder = msgspec.json.Encoder()
    n = problems = 0
    statuses: Counter[str] = Counter()
    with open(os.devnull, "wb") as out:
        for item in read_paths(files):
            if isinstance(item, Problem):
                problems += 1
                continue
            v = judge(item).verdict
            out.write(encoder.encode(v))
            out.write(b"\n")
            statuses[v.status] += 1
            n += 1
    return {"measurements": n, "problems": problems, "statuses": dict(statuses)}


PHASES = {"parse": phase_parse, "parse_reader": phase_parse_reader, "verdicts": phase_verdicts}


def _vm_hwm_mb() -> float | None:
    """This process's peak RSS since its exec (``VmHWM``), or ``None`` off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(field.encode()):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it, from ``/proc/*/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


class TreeSampler:
    """Samples the summed RSS (and PSS) of a process and its descendants, keeping peaks.

    RSS counts shared pages (libraries, mapped files) once per process, so the summed
    RSS over-states what a pool uses; PSS shares them out and is the fairer sum.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss_kb = self.peak_pss_kb = self.max_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _descendants(self.pid)
            self.max_procs = max(self.max_procs, len(pids))
            self.peak_rss_kb = max(self.peak_rss_kb, sum(_status_kb(p, "VmRSS:") for p in pids))
            if len(pids) > 1 or self.peak_pss_kb == 0:
                self.peak_pss_kb = max(self.peak_pss_kb, sum(_pss_kb(p) for p in pids))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_child(
    cmd: list[str], *, tree: bool = False
) -> tuple[float, float, float, bytes, bytes, int, TreeSampler | None]:
    """Run ``cmd``; return (wall s, CPU s, peak RSS MB, stdout, stderr, exit status,
    the process-tree sampler when ``tree``).

    The peak is the child's ``ru_maxrss`` from ``wait4``: that child alone, not the
    running maximum over all children that ``RUSAGE_CHILDREN`` would give. Linux
    starts a child's figure at its parent's RSS at fork time, which is why this
    parent stays small (corpus generation runs in worker processes). CPU time
    includes the descendants the child waited for (its workers).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        sampler = TreeSampler(proc.pid) if tree else None
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        if sampler is not None:
            sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        # ru_maxrss is in KiB on Linux.
        cpu = usage.ru_utime + usage.ru_stime
        peak = usage.ru_maxrss / 1024
        return wall, cpu, peak, out.read(), err.read(), proc.returncode, sampler


def measure(phase: str, files: list[Path], workdir: Path) -> dict[str, Any]:
    """Run one phase in a fresh child process and collect its figures."""
    db = workdir / f"bench-{len(files)}.duckdb"
    if phase == "ingest":
        for p in (db, Path(f"{db}.wal")):
            p.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "voipwatch.cli",
            "ingest",
            "--json",
            "--db",
            str(db),
            *map(str, files),
        ]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, *map(str, files)]
    wall, cpu, peak, out, err, rc, tree = run_child(cmd, tree=phase == "ingest")
    if rc != 0:
        sys.exit(f"{phase} failed ({rc}): {err.decode(errors='replace')[-2000:]}")
    lines = [ln for ln in out.splitlines() if ln.strip().startswith(b"{")]
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if phase == "ingest":
        for p in (db, Path(f"{db}.wal")):
            p.unlink(missing_ok=True)
        result = {
            "measurements": result.get("new", 0),
            "ingest_report": result,
            "workers": ingest_workers(len(files)),
        }
    # A child of this script reports its own VmHWM (exact, reset at exec); for ingest
    # the peak is the sampled sum over its process tree (main process and workers),
    # never below wait4's figure for the main process alone.
    hwm = result.get("vm_hwm_mb")
    if tree is not None:
        # With workers, summed RSS counts every shared library once per process; the
        # summed PSS shares those pages out, so it is what the run really holds.
        # Alone, the main process's own figure stands (PSS sampling could miss it).
        hwm = max(tree.peak_pss_kb / 1024, peak) if tree.max_procs > 1 else peak
        result.update(
            tree_peak_rss_mb=round(tree.peak_rss_kb / 1024, 1),
            tree_peak_pss_mb=round(tree.peak_pss_kb / 1024, 1),
            processes=tree.max_procs,
        )
    result.update(
        seconds=round(wall, 3),
        cpu_seconds=round(cpu, 3),
        peak_rss_mb=round(hwm if hwm else peak, 1),
        wait4_maxrss_mb=round(peak, 1),
    )
    result["per_second"] = round(result["measurements"] / wall, 1) if wall else 0.0
    return result


def ingest_workers(files: int) -> int:
    """The number of worker processes ``voipwatch ingest`` uses by default."""
    from voipwatch.engine import default_workers  # light: no store, no DuckDB

    return default_workers(files)


def ingest_available() -> bool:
    """``voipwatch ingest`` exists once the store is built; until then, skip that phase.

    Asked of a child process: importing the store here would add DuckDB and pyarrow
    (some 50 MB) to this driver, and through fork to every child's ``ru_maxrss``.
    """
    cmd = [sys.executable, "-m", "voipwatch.cli", "ingest", "--help"]
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


# --- report ---------------------------------------------------------------------------


ROWS = (
    ("parse", "parse (floor)", False),
    ("parse_reader", "parse (own reader)", False),
    ("verdicts_half", "verdicts", True),
    ("verdicts_full", "verdicts", False),
    ("ingest_half", "ingest", True),
    ("ingest_full", "ingest", False),
)


def report(n: int, info: dict[str, Any], res: dict[str, Any]) -> dict[str, Any]:
    """Print the table and the goals; return every figure for the JSON line."""
    raw_mb = info["raw_bytes"] / 1e6
    half_mb = sum(f["raw_bytes"] for f in info["files"][: FILES // 2]) / 1e6
    floor = res["parse"]["per_second"]
    print()
    print(
        f"corpus: {n} measurements in {len(info['files'])} .jsonl.gz files, "
        f"{info['gz_bytes'] / 1e6:.0f} MB compressed, {raw_mb:.0f} MB of JSON"
    )
    print("        " + ", ".join(f"{k} {v}" for k, v in sorted(info["tests"].items())))
    print()
    header = (
        f"{'phase':<20}{'msmts':>8}{'seconds':>9}{'msmt/s':>9}{'MB/s':>8}"
        f"{'x floor':>9}{'CPUs':>6}{'peak MB':>13}"
    )
    print(header)
    print("-" * len(header))
    for key, label, is_half in ROWS:
        r = res.get(key)
        if r is None:
            continue
        mbps = (half_mb if is_half else raw_mb) / r["seconds"]
        ratio = r["per_second"] / floor if floor else 0.0
        cpus = r["cpu_seconds"] / r["seconds"] if r["seconds"] else 0.0
        label = label + (f" ({r['workers']} workers)" if "workers" in r else "")
        print(
            f"{label + (' N/2' if is_half else ''):<20}{r['measurements']:>8}"
            f"{r['seconds']:>9.2f}{r['per_second']:>9.0f}{mbps:>8.1f}{ratio:>8.2f}x"
            f"{cpus:>6.2f}{r['peak_rss_mb']:>13.1f}"
        )
    print(
        "(seconds: wall time of each child process, start-up included; CPUs: CPU time / "
        "wall time;\n peak MB: the child's VmHWM; for ingest with workers, the peak of "
        "the summed PSS of the main\n process and its workers sampled from /proc (PSS "
        "shares each library page out among the\n processes mapping it; at least the main "
        "process's ru_maxrss from wait4). Summed RSS, which\n counts shared pages once per "
        "process: "
        + ", ".join(
            f"ingest{' N/2' if k.endswith('half') else ''} {res[k]['tree_peak_rss_mb']:.0f} MB"
            for k in ("ingest_half", "ingest_full")
            if k in res and "tree_peak_rss_mb" in res[k]
        )
        + ")"
    )
    starved = [
        k
        for k, _, _ in ROWS
        if k in res
        and k.startswith(("parse", "verdicts"))
        and res[k]["cpu_seconds"] < 0.9 * res[k]["seconds"]
    ]
    if starved:
        print(
            f"note: {', '.join(starved)} got less than 90% of a CPU: other work was "
            "running on this machine, so throughput figures are low and noisy"
        )
    cpus = res.get("load_average", {}).get("cpus") or 1
    for k in ("ingest_half", "ingest_full"):
        r = res.get(k)
        if (
            r
            and r.get("workers", 1) > 1
            and r["cpu_seconds"] < 0.9 * r["seconds"] * min(cpus, r["workers"])
        ):
            print(
                f"note: {k} used {r['cpu_seconds'] / r['seconds']:.2f} of the "
                f"{min(cpus, r['workers'])} CPUs its workers could use: other work may "
                "have been running (or the main process was the bottleneck)"
            )
    print()
    summary: dict[str, Any] = {
        "measurements": n,
        "files": len(info["files"]),
        "raw_mb": round(raw_mb, 1),
        "gz_mb": round(info["gz_bytes"] / 1e6, 1),
        "tests": info["tests"],
        "phases": res,
        "goals": {},
    }
    goals = summary["goals"]

    def verdict(name: str, ok: bool, text: str) -> None:
        goals[name] = {"ok": ok, "detail": text}
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {text}")

    print("goals:")
    v_ratio = res["verdicts_full"]["per_second"] / floor
    summary["verdicts_ratio"] = round(v_ratio, 3)
    verdict(
        "verdicts_throughput",
        v_ratio >= GOAL_VERDICTS,
        f"{v_ratio:.2f}x parse floor (goal >= {GOAL_VERDICTS}x)",
    )
    own = res["parse_reader"]["per_second"]
    summary["verdicts_ratio_own_reader"] = round(res["verdicts_full"]["per_second"] / own, 3)
    print(
        f"         (against parsing with voipwatch's own line reader: "
        f"{summary['verdicts_ratio_own_reader']:.2f}x)"
    )
    if "ingest_full" in res:
        i_ratio = res["ingest_full"]["per_second"] / floor
        summary["ingest_ratio"] = round(i_ratio, 3)
        verdict(
            "ingest_throughput",
            i_ratio >= GOAL_INGEST,
            f"{i_ratio:.2f}x parse floor (goal >= {GOAL_INGEST}x)",
        )
    else:
        print("  ingest: not available")
        summary["ingest_ratio"] = None
    for phase in ("verdicts", "ingest"):
        if f"{phase}_full" not in res:
            continue
        half, full = res[f"{phase}_half"]["peak_rss_mb"], res[f"{phase}_full"]["peak_rss_mb"]
        growth = full / half - 1 if half else 0.0
        verdict(
            f"{phase}_memory",
            full < GOAL_PEAK_MB and growth < FLAT_TOLERANCE,
            f"peak {half:.0f} MB at N/2, {full:.0f} MB at N ({growth:+.0%}; goal < "
            f"{GOAL_PEAK_MB:.0f} MB and growth < {FLAT_TOLERANCE:.0%})",
        )
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument(
        "--measurements",
        type=int,
        default=200_000,
        help="corpus size N (default 200000; 20000 for a quick run)",
    )
    ap.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"where the corpus is cached (default {DEFAULT_WORKDIR})",
    )
    ap.add_argument(
        "--samples",
        type=Path,
        default=DEFAULT_SAMPLES,
        help="the OONI sample folder the corpus is built from",
    )
    ap.add_argument("--no-ingest", action="store_true", help="skip the ingest phase")
    ap.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase:  # child mode: one phase, one JSON line out
        result = PHASES[args.phase](args.files)
        result["vm_hwm_mb"] = _vm_hwm_mb()
        print(json.dumps(result))
        return

    n = args.measurements
    if n < FILES * 2:
        ap.error(f"--measurements must be at least {FILES * 2}")
    if not args.samples.is_dir():
        ap.error(f"sample folder {args.samples} not found (see --samples)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    files, info = build_corpus(n, args.workdir, args.samples)
    half = files[: FILES // 2]
    # Warm the page cache so the first phase is not penalised; one reused buffer, so
    # this driver stays small (a child's ru_maxrss starts at its parent's RSS).
    block = bytearray(1 << 20)
    for f in files:
        with f.open("rb", buffering=0) as fh:
            while fh.readinto(block):
                pass
    del block

    res: dict[str, Any] = {}
    load_before = os.getloadavg()[0]
    steps: list[tuple[str, str, list[Path]]] = [
        ("parse", "parse", files),
        ("parse_reader", "parse_reader", files),
        ("verdicts_half", "verdicts", half),
        ("verdicts_full", "verdicts", files),
    ]
    if not args.no_ingest and ingest_available():
        steps += [("ingest_half", "ingest", half), ("ingest_full", "ingest", files)]
    elif not args.no_ingest:
        print("ingest: not available", file=sys.stderr)
    for key, phase, fs in steps:
        print(f"running {key} ...", file=sys.stderr, flush=True)
        res[key] = measure(phase, fs, args.workdir)
    res["driver_rss_mb"] = round(_rss_mb(), 1)
    # Other work on the machine skews throughput; say so next to the figures.
    res["load_average"] = {
        "before": round(load_before, 2),
        "after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    summary = report(n, info, res)
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
