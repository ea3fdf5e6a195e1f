#!/usr/bin/env python
"""Peak memory of ``voipwatch cases import`` on large case CSVs (CenAlert's layout).

    .venv/bin/python benchmarks/bench_import_memory.py [--rows 100000,1000000] [--cap-gib 3]

Each import runs in its own child process, its address space capped at ``--cap-gib``
(so a run that would grow without bound fails here, not on the machine); the peak
resident set comes from the child's rusage. The baseline, measured in the same run,
is a child that imports voipwatch and reads the same file's bytes whole: the import
itself streams the file, so its peak should not follow the file's size.

Prints a table and a final JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = (
    "country,country_code,start_date,end_date,affected_services,affected_regions,cause,"
    "link,source\n"
)
CODES = ("IR", "RU", "CN", "TR", "PK", "ET", "BR", "IN", "EG", "VE", "CU", "BY", "MM", "IQ")
APPS = ("WhatsApp", "Telegram", "Signal", "Viber", "Facebook Messenger", "Skype")
BASELINE = "import sys, voipwatch.cli; data = open(sys.argv[1], 'rb').read(); print(len(data))"


def write_csv(path: Path, rows: int) -> None:
    """``rows`` distinct blocks (country, day and region differ), all valid."""
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(rows):
            cc = CODES[i % len(CODES)]
            day = 1 + i % 28
            month = 1 + (i // 28) % 12
            year = 2010 + (i // 336) % 14
            app = APPS[i % len(APPS)]
            f.write(
                f"{cc},{cc},{year}-{month:02d}-{day:02d},,{app},region {i},"
                f"elections,https://example.org/{i},Access Now\n"
            )


#: Runs the command given and prints its exit status and its peak RSS (KiB): a
#: wrapper of its own per measurement, so no other child's peak is mixed in.
WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], "
    "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def run(args: list[str], cap: int, timeout: float) -> tuple[int, float, float]:
    """(exit status, peak RSS in MiB, seconds) of ``args``, its address space capped."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1]) / 1024, time.monotonic() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", default="100000,1000000")
    p.add_argument("--cap-gib", type=float, default=3.0)
    p.add_argument("--timeout", type=float, default=1800.0)
    a = p.parse_args()
    cap = int(a.cap_gib * 1024**3)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-import-") as d:
        for n in (int(x) for x in a.rows.split(",")):
            csv = Path(d) / f"cases-{n}.csv"
            write_csv(csv, n)
            size = csv.stat().st_size / 1024**2
            base = run([sys.executable, "-c", BASELINE, str(csv)], cap, a.timeout)
            db = Path(d) / f"s-{n}.duckdb"
            cmd = [
                sys.executable,
                "-m",
                "voipwatch.cli",
                "cases",
                "import",
                str(csv),
                "--db",
                str(db),
            ]
            code, rss, secs = run(cmd, cap, a.timeout)
            results.append(
                {
                    "rows": n,
                    "file_mib": round(size, 1),
                    "baseline_peak_mib": round(base[1]),
                    "import_exit": code,
                    "import_peak_mib": round(rss),
                    "import_seconds": round(secs, 1),
                    "cap_gib": a.cap_gib,
                }
            )
            print(
                f"{n:>9,} rows  {size:7.1f} MiB file  baseline {base[1]:7.0f} MiB  "
                f"import {rss:7.0f} MiB peak, exit {code}, {secs:6.1f} s",
                flush=True,
            )
            csv.unlink()
    print(json.dumps({"bench": "import_memory", "results": results}))


if __name__ == "__main__":
    main()
