#!/usr/bin/env python
"""How long ``voipwatch demo`` takes to build its store, against generating and ingesting alone.

    .venv/bin/python benchmarks/bench_demo.py [--workdir DIR]

Each phase runs as the command a user would type, in its own process:

* ``demo --build-only``: the whole demo build (world, judging, cases, events, costs)
  into a fresh store — the part of ``voipwatch demo`` before it serves;
* ``generate`` then ``ingest`` of the same world into another fresh store: the floor,
  since the demo cannot be faster than making and judging its measurements;
* ``report --format pdf`` on the demo country with the most events: one brief.

Prints a table, the goal (the demo build under 120 s on the project's 2-CPU machine)
and a final JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VOIPWATCH = str(Path(sys.executable).with_name("voipwatch"))
GOAL_SECONDS = 120.0


def timed(*args: str) -> tuple[float, str]:
    t = time.perf_counter()
    done = subprocess.run(
        [VOIPWATCH, *args], check=True, capture_output=True, text=True, timeout=900
    )
    return time.perf_counter() - t, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-demo-", dir=args.workdir))
    try:
        from voipwatch import demo

        demo_s, out = timed("demo", "--build-only", "--json", "--db", str(work / "demo.duckdb"))
        doc = json.loads(out.splitlines()[-1])
        world = [
            "--seed", str(demo.SEED), "--weeks", str(demo.WEEKS),
            "--countries", str(demo.COUNTRIES), "--networks", str(demo.NETWORKS),
            "--events", str(demo.EVENTS),
        ]  # fmt: skip
        gen_s, _ = timed("generate", *world, "--out", str(work / "world"))
        ingest_s, _ = timed(
            "ingest", str(work / "world" / "raw"), "--db", str(work / "floor.duckdb")
        )
        by_cc = doc["events_by_country"]
        cc = max(sorted(by_cc), key=lambda c: by_cc[c]) if by_cc else doc["countries"][0]
        pdf = work / f"{cc}.pdf"
        report_s, _ = timed(
            "report", "--country", cc, "--format", "pdf", "--db", str(work / "demo.duckdb"),
            "--out", str(pdf),
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = gen_s + ingest_s
    rows = [
        ("demo --build-only", demo_s, demo_s / floor),
        ("generate + ingest (floor)", floor, 1.0),
        (f"report --format pdf ({cc})", report_s, report_s / floor),
    ]
    print(f"demo world: {doc['world']['measurements']:,} measurements, {doc['events']} events")
    print(f"{'phase':32} {'seconds':>8} {'x floor':>8}")
    for name, s, ratio in rows:
        print(f"{name:32} {s:8.1f} {ratio:8.2f}")
    verdict = "met" if demo_s < GOAL_SECONDS else "NOT met"
    print(f"goal: demo build under {GOAL_SECONDS:.0f} s: {verdict} ({demo_s:.1f} s)")
    print(
        json.dumps(
            {
                "measurements": doc["world"]["measurements"],
                "events": doc["events"],
                "demo_seconds": round(demo_s, 2),
                "demo_steps": doc["seconds"],
                "generate_seconds": round(gen_s, 2),
                "ingest_seconds": round(ingest_s, 2),
                "report_seconds": round(report_s, 2),
                "demo_over_floor": round(demo_s / floor, 3),
                "goal_met": demo_s < GOAL_SECONDS,
            }
        )
    )


if __name__ == "__main__":
    main()
