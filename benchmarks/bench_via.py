#!/usr/bin/env python
"""How much longer the probe takes with ``--via``: the run through a tool beside the direct one.

    sudo .venv/bin/python benchmarks/bench_via.py [--repeat N] [--scenario NAME]

Builds one simulated world (``voipwatch.sim``: network namespaces with real servers,
nothing leaves them; needs root) with a circumvention tool in it (by default
``tool_restores``: dante with its UDP relay, Telegram and UDP 3478 blocked), and runs
``voipwatch probe --plane all`` in its client namespace, every run a fresh process,
alternately without and with ``--via``, ``--repeat`` times each (after one untimed
warm-up of each). Goal: the ``--via`` run's wall time within 2x the direct run's
(medians over the repetitions, measured in the same world in the same run).

The wall time is the whole ``voipwatch probe`` process (start-up, both runs, judging
both paths, writing); the probe's own run time (the longest ``test_runtime`` of the
direct measurements) is printed beside it. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from voipwatch.sim.network import World
from voipwatch.sim.scenario import load

GOAL = 2.0
PROBE_TIMEOUT = 240.0


def _run(world: World, argv: list[str]) -> tuple[float, float]:
    """(wall seconds, longest test_runtime) of one probe process."""
    t0 = time.monotonic()
    done = world.run_in_client(argv, timeout=PROBE_TIMEOUT)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise SystemExit(f"the probe failed: {done.stderr.strip()[-300:]}")
    ms = [json.loads(x) for x in world.measurements.read_text().splitlines() if x.strip()]
    return wall, max(float(m.get("test_runtime") or 0.0) for m in ms)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scenario", default="tool_restores")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_via: the simulator needs root")
    scenario = load(args.scenario)
    if scenario.tool is None:
        raise SystemExit(f"bench_via: scenario {args.scenario} has no [tool]")
    rows: dict[str, list[tuple[float, float]]] = {"direct": [], "via": []}
    with World(scenario) as world:
        via = world.probe_argv(["--plane", "all"])
        i = via.index("--via")
        direct = via[:i] + via[i + 2 :]
        for argv in (direct, via):  # warm-up: resolver caches, bytecode
            _run(world, argv)
        for n in range(max(1, min(args.repeat, 20))):
            for name, argv in (("direct", direct), ("via", via)):
                wall, runtime = _run(world, argv)
                rows[name].append((wall, runtime))
                print(f"run {n + 1} {name:6}  wall {wall:6.2f} s  probe run {runtime:6.2f} s")
    med: dict[str, Any] = {
        k: {
            "wall_s": round(statistics.median(w for w, _ in v), 3),
            "run_s": round(statistics.median(r for _, r in v), 3),
        }
        for k, v in rows.items()
    }
    ratio = med["via"]["wall_s"] / med["direct"]["wall_s"]
    verdict = "within" if ratio <= GOAL else "OVER"
    print(
        f"--via wall {med['via']['wall_s']:.2f} s / direct {med['direct']['wall_s']:.2f} s "
        f"= {ratio:.2f}x ({verdict} the {GOAL:g}x goal)"
    )
    summary = {"scenario": args.scenario, "repeat": args.repeat, **med,
               "ratio": round(ratio, 3), "goal": GOAL}  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
