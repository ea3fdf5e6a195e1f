#!/usr/bin/env python
"""How fast ``voipwatch generate`` writes a world, against the cost of writing its bytes.

    .venv/bin/python benchmarks/bench_generate.py [--seed N] [--workdir DIR]

Each phase runs in its own child process (interpreter start and imports included):

* ``generate 4w`` and ``generate 8w``: :func:`generate_world` with the default world
  over 4 and 8 weeks — twice the measurements — to show peak memory does not grow
  with the length of the world (it works a day at a time);
* ``write floor``: read the 8-week world's files back, then gzip (same level) and
  write the very same bytes to another folder — what writing this world costs with no
  measurement built at all.

Prints a table, the goals (generation <= 4x the write floor; peak memory flat from 4
to 8 weeks, < 15 % growth) and a final JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

GENERATE = """
import sys
from pathlib import Path
from voipwatch.catalog import load
from voipwatch.events.generate import generate_world
s = generate_world(int(sys.argv[1]), Path(sys.argv[2]), catalog=load(), weeks=int(sys.argv[3]))
print(s.measurements)
"""
FLOOR = """
import gzip, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
files = sorted(src.rglob("*.jsonl.gz"))
data = [(f.relative_to(src), gzip.decompress(f.read_bytes())) for f in files]
import time
t = time.perf_counter()
n = 0
for rel, raw in data:
    target = dst / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(raw, compresslevel=3, mtime=0))
    n += raw.count(b"\\n")
print(n, time.perf_counter() - t)
"""


def run(code: str, *args: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of ``code`` in a child interpreter."""
    t = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    out = p.stdout.read() if p.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {code[:40]}")
    return wall, usage.ru_maxrss / 1024.0, out.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vw-gen-", dir=args.workdir))
    try:
        g4 = run(GENERATE, str(args.seed), str(work / "w4"), "4")
        g8 = run(GENERATE, str(args.seed), str(work / "w8"), "8")
        fl = run(FLOOR, str(work / "w8" / "raw"), str(work / "floor"))
        n4, n8 = int(g4[2]), int(g8[2])
        n_floor, floor_write = fl[2].split()
        floor_s = float(floor_write)
        size = sum(f.stat().st_size for f in (work / "w8" / "raw").rglob("*.gz"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = g8[0] / floor_s
    growth = g8[1] / g4[1] - 1.0
    print(f"{'phase':<14}{'measurements':>14}{'seconds':>10}{'msmt/s':>10}{'peak MB':>10}")
    for name, n, (wall, rss, _) in (("generate 4w", n4, g4), ("generate 8w", n8, g8)):
        print(f"{name:<14}{n:>14,}{wall:>10.1f}{n / wall:>10,.0f}{rss:>10.0f}")
    print(f"{'write floor':<14}{int(n_floor):>14,}{floor_s:>10.1f}{int(n_floor) / floor_s:>10,.0f}"
          f"{fl[1]:>10.0f}")  # fmt: skip
    print(f"generation / write floor: {ratio:.2f}x (goal <= 4); peak memory 4w -> 8w: "
          f"{growth:+.0%} (goal < +15 %); {size / 1e6:.0f} MB of .jsonl.gz")  # fmt: skip
    print(json.dumps({"measurements": n8, "generate_s": round(g8[0], 2),
                      "floor_s": round(floor_s, 2), "ratio": round(ratio, 2),
                      "peak_mb_4w": round(g4[1]), "peak_mb_8w": round(g8[1]),
                      "bytes": size}))  # fmt: skip


if __name__ == "__main__":
    main()
