#!/usr/bin/env python
"""How long the probe takes: all apps at once against one app alone, on both planes.

    sudo .venv/bin/python benchmarks/bench_probe.py [--repeat N] [--only PART]

Builds simulated worlds (``voipwatch.sim``: network namespaces with real servers,
nothing leaves them; needs root) and runs ``voipwatch probe`` inside their client
namespace, every run a fresh process, exactly as ``voipwatch simulate`` does.

1. ``baseline`` (no censorship): the full probe (every app) and each app's test
   alone (``--apps X``), ``--repeat`` times, interleaved. Goal: the full run within
   1.5x the slowest single test, i.e. the tests really run side by side.
2. ``all_timeout`` (every packet to every app's addresses dropped; resolvers and
   the control helper answer): the probe with 1, 3 and all apps, and each app
   alone. Goals: within 2x one endpoint's operation budget (connect + TLS + HTTP
   timeouts of the world's probe configuration), and not growing with the number
   of apps (each run within 1.25x the slowest of its apps alone).
3. ``media`` (the call plane, ``--plane media``, no censorship): the full media
   probe (every app's call-plane test, and the ``generic`` one: public STUN, SIP,
   the media and throughput A/B) against each app's alone (``--apps X``, which
   brings ``generic`` along). Goal: the full run within 2x the longest single media
   test (the longest measurement of any single-app run).

**The figure timed** is the probe's own run time: the longest ``test_runtime`` of
the run's measurements. Every test of a run starts at the same instant (their
recorders are made together, just before the tests are launched), so the longest
one spans the run from its start to the last test's end: the network part, without
the interpreter's start-up, imports, configuration, judging and writing. The wall
time of the whole ``voipwatch probe`` process is printed next to it, with its CPU
time, for reference. Each world gets one untimed warm-up run first (resolver
caches, bytecode). Medians over the repetitions.

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GOAL_BASELINE = 1.5  # full run / slowest single test
GOAL_BUDGET = 2.0  # all-timeout run / one endpoint's operation budget
GOAL_FLAT = 1.25  # all-timeout run / slowest of its apps alone
GOAL_MEDIA = 2.0  # full media-plane run / longest single media test
MAX_REPEAT = 20
TIMEOUT_SETS = (1, 3)  # besides "all": the first N apps in the probe's order
TIMEOUT_TARGET = "generic_timeout_error"


@dataclass
class Run:
    """One ``voipwatch probe`` process."""

    apps: list[str]
    run_s: float  # the probe's own run time: max test_runtime
    wall_s: float  # the whole process, start-up and judging included
    cpu_s: float  # the process's user + system CPU time
    runtimes: dict[str, float]  # test_name -> test_runtime
    target_connects: int = 0
    target_connect_timeouts: int = 0


@dataclass
class Series:
    """Repetitions of the same run; figures are medians."""

    label: str
    apps: list[str]
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return float(statistics.median(float(getattr(r, attr)) for r in self.runs))

    def test_median(self, test: str) -> float:
        return statistics.median(r.runtimes[test] for r in self.runs)

    def figures(self) -> dict[str, Any]:
        tests = sorted({t for r in self.runs for t in r.runtimes})
        return {
            "apps": self.apps,
            "run_s": round(self.median("run_s"), 3),
            "wall_s": round(self.median("wall_s"), 3),
            "cpu_s": round(self.median("cpu_s"), 3),
            "runs_s": [round(r.run_s, 3) for r in self.runs],
            "test_runtime_s": {t: round(self.test_median(t), 3) for t in tests},
            "target_connects": self.runs[-1].target_connects,
            "target_connect_timeouts": self.runs[-1].target_connect_timeouts,
        }


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _test_key(m: dict[str, Any]) -> str:
    """A measurement's name in the figures: the test, or the app of a call-plane test."""
    if m["test_name"] == "voipwatch_call":
        return f"call:{m['input']}"
    return str(m["test_name"])


def probe_once(
    world: Any, apps: list[str], every_app: bool, timeout: float, plane: str = ""
) -> Run:
    """Run the probe once in ``world`` (``apps``, or every app when ``every_app``);
    ``plane`` media adds its ``generic`` measurement."""
    args = [] if every_app else ["--apps", ",".join(apps)]
    if plane:
        args += ["--plane", plane]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    done = world.run_probe(args, timeout=timeout)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    if done.returncode != 0:
        sys.exit(f"voipwatch probe {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    lines = world.measurements.read_text().splitlines()
    ms = [json.loads(line) for line in lines if line.strip()]
    want = len(apps) + (1 if plane == "media" else 0)
    if len(ms) != want:
        sys.exit(f"voipwatch probe {' '.join(args)}: {len(ms)} measurements, not {want}")
    runtimes = {_test_key(m): float(m["test_runtime"]) for m in ms}
    connects = [
        c
        for m in ms
        for c in m["test_keys"].get("tcp_connect") or []
        if "target" in (c.get("tags") or [])
    ]
    timeouts = sum(1 for c in connects if (c.get("status") or {}).get("failure") == TIMEOUT_TARGET)
    return Run(apps, max(runtimes.values()), wall, cpu, runtimes, len(connects), timeouts)


def other_simulations(own_prefix: str) -> int:
    """Simulated worlds other than this script's that exist now (they compete for CPU)."""
    from voipwatch.sim import netns

    return len(
        {ns.rsplit("-", 1)[0] for ns in netns.list_namespaces() if not ns.startswith(own_prefix)}
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def bench_world(
    scenario: str,
    sets: list[tuple[str, list[str], bool]],
    apps: list[str],
    repeat: int,
    plane: str = "",
) -> tuple[dict[str, Series], dict[str, Series], dict[str, Any]]:
    """Time ``sets`` (label, apps, every_app) and each app alone in one world."""
    from voipwatch.probe.config import load_config
    from voipwatch.sim.network import World
    from voipwatch.sim.scenario import load

    multi = {label: Series(label, a) for label, a, _ in sets}
    alone = {a: Series(a, [a]) for a in apps}
    with World(load(scenario)) as world:
        cfg = load_config(world.probe_config)
        timeout = cfg.timeouts.run + 60.0
        info: dict[str, Any] = {
            "build_s": round(world.timings["build"], 2),
            "warnings": list(world.warnings),
            "timeouts": {
                k: getattr(cfg.timeouts, k) for k in ("dns", "connect", "tls", "http", "run")
            },
            "retries": cfg.retries,
            "injection_window": cfg.resolvers.injection_window,
            "concurrency": {
                "total": cfg.concurrency.total,
                "per_destination": cfg.concurrency.per_destination,
            },
            "other_simulations": other_simulations(world.prefix),
        }
        if plane:
            info["media_seconds"] = cfg.helper.media_seconds
            info["throughput_bytes"] = cfg.helper.throughput_bytes
        _say(f"{scenario}: world built in {info['build_s']} s; warm-up run")
        probe_once(world, apps, True, timeout, plane)
        for i in range(repeat):
            _say(f"{scenario}{' ' + plane if plane else ''}: repetition {i + 1}/{repeat}")
            for label, subset, every in sets:
                multi[label].runs.append(probe_once(world, subset, every, timeout, plane))
            for app in apps:
                alone[app].runs.append(probe_once(world, [app], False, timeout, plane))
        info["other_simulations"] = max(info["other_simulations"], other_simulations(world.prefix))
    return multi, alone, info


def _row(label: str, s: Series, extra: str = "") -> str:
    return (
        f"  {label:<24}{s.median('run_s'):>9.2f}{s.median('wall_s'):>9.2f}"
        f"{s.median('cpu_s'):>8.2f}{extra}"
    )


HEADER = f"  {'run':<24}{'probe s':>9}{'wall s':>9}{'CPU s':>8}"


def report_baseline(
    multi: dict[str, Series], alone: dict[str, Series], info: dict[str, Any], repeat: int
) -> dict[str, Any]:
    from voipwatch.probe.experiments import test_name

    full = multi["all"]
    print(f"\nbaseline (no censorship): median of {repeat} run(s) each")
    print(
        f"  (every test waits at least the UDP injection window, {info['injection_window']:g} s, "
        "for a forged second answer)"
    )
    print(HEADER)
    print(_row(f"all {len(full.apps)} apps", full))
    for a, s in alone.items():
        print(_row(f"{a} alone", s))
    slow_app = max(alone, key=lambda a: alone[a].median("run_s"))
    slowest = alone[slow_app].median("run_s")
    ratio = full.median("run_s") / slowest
    wall_ratio = full.median("wall_s") / max(s.median("wall_s") for s in alone.values())
    in_full = full.test_median(test_name(slow_app))
    print(
        f"  slowest single test: {slow_app}, {slowest:.2f} s alone, {in_full:.2f} s among all apps"
    )
    ok = ratio <= GOAL_BASELINE
    print(
        f"  [{'PASS' if ok else 'FAIL'}] all apps take {ratio:.2f}x the slowest single test "
        f"(goal <= {GOAL_BASELINE}x; on wall time {wall_ratio:.2f}x)"
    )
    return {
        "all": full.figures(),
        "alone": {a: s.figures() for a, s in alone.items()},
        "slowest_single": {"app": slow_app, "run_s": round(slowest, 3)},
        "ratio": round(ratio, 3),
        "wall_ratio": round(wall_ratio, 3),
        "goal": GOAL_BASELINE,
        "ok": ok,
        "world": info,
    }


def report_timeout(
    multi: dict[str, Series], alone: dict[str, Series], info: dict[str, Any], repeat: int
) -> dict[str, Any]:
    from voipwatch.probe.steps import CONTROL_HEAD_START

    t = info["timeouts"]
    budget = t["connect"] + t["tls"] + t["http"]
    floor = CONTROL_HEAD_START + t["connect"]
    print(f"\nall_timeout (every app's addresses dropped): median of {repeat} run(s) each")
    print(
        f"  budget: one endpoint's operations, connect {t['connect']:g} + TLS {t['tls']:g} "
        f"+ HTTP {t['http']:g} = {budget:g} s (after its name resolves; DNS answers here)"
    )
    print(
        f"  floor:  the same-IP control handshake's head start {CONTROL_HEAD_START:g} + connect "
        f"{t['connect']:g} = {floor:g} s (a dropped SYN; timeouts are not retried)"
    )
    print(
        HEADER
        + f"{'x budget':>10}{'x floor':>9}  {'slowest alone':<17}{'x alone':>8}{'x 1 app':>9}"
    )
    first = next(iter(multi.values())).median("run_s")
    rows: dict[str, Any] = {}
    ok_budget = ok_flat = True
    for label, s in multi.items():
        run_s = s.median("run_s")
        slow_app = max(s.apps, key=lambda a: alone[a].median("run_s"))
        slow = alone[slow_app].median("run_s")
        rows[label] = s.figures() | {
            "x_budget": round(run_s / budget, 3),
            "x_floor": round(run_s / floor, 3),
            "slowest_alone": {"app": slow_app, "run_s": round(slow, 3)},
            "x_slowest_alone": round(run_s / slow, 3),
            "x_first": round(run_s / first, 3),
        }
        ok_budget &= run_s <= GOAL_BUDGET * budget
        ok_flat &= run_s <= GOAL_FLAT * slow
        print(
            _row(f"{len(s.apps)} app{'s' if len(s.apps) > 1 else ''}", s)
            + f"{run_s / budget:>9.2f}x{run_s / floor:>8.2f}x  {slow:>5.2f} {slow_app:<11}"
            f"{run_s / slow:>7.2f}x{run_s / first:>8.2f}x"
        )
    print("  each app alone:")
    for a, s in alone.items():
        print(_row(f"  {a}", s))
    total = rows["all"]
    per_test = total["test_runtime_s"]
    slowest_test = max(per_test, key=per_test.get)
    others = [v for k, v in per_test.items() if k != slowest_test]
    print(
        f"  in the all-apps run, the slowest test is {slowest_test} "
        f"({per_test[slowest_test]:.2f} s)"
        + (f"; the others take {min(others):.2f}-{max(others):.2f} s" if others else "")
    )
    print(
        f"  target TCP connects in the all-apps run: {total['target_connects']}, "
        f"{total['target_connect_timeouts']} timed out"
    )
    print(
        f"  [{'PASS' if ok_budget else 'FAIL'}] every run within {GOAL_BUDGET}x the budget "
        f"(all apps: {rows['all']['x_budget']:.2f}x)"
    )
    print(
        f"  [{'PASS' if ok_flat else 'FAIL'}] not growing with the number of apps: every run "
        f"within {GOAL_FLAT}x the slowest of its apps alone "
        f"(all apps: {rows['all']['x_slowest_alone']:.2f}x)"
    )
    return {
        "budget_s": budget,
        "floor_s": floor,
        "runs": rows,
        "alone": {a: s.figures() for a, s in alone.items()},
        "goal_budget": GOAL_BUDGET,
        "goal_flat": GOAL_FLAT,
        "ok_budget": ok_budget,
        "ok_flat": ok_flat,
        "world": info,
    }


def report_media(
    multi: dict[str, Series], alone: dict[str, Series], info: dict[str, Any], repeat: int
) -> dict[str, Any]:
    full = multi["all"]
    print(f"\nmedia (the call plane, no censorship): median of {repeat} run(s) each")
    print(
        f"  (each run's generic test streams the media A/B for {info['media_seconds']:g} s "
        f"and downloads {info['throughput_bytes']:,} bytes twice)"
    )
    print(HEADER + f"  {'longest test':<26}")
    print(_row(f"all {len(full.apps)} apps", full))
    # A single media test: one measurement of a single-app run (the app's own, or the
    # generic one it brings along), its median over the repetitions.
    singles: dict[str, float] = {}
    for a, s in alone.items():
        tests = {t: s.test_median(t) for t in s.runs[0].runtimes}
        longest = max(tests, key=tests.__getitem__)
        singles.update({f"{t} (with {a})": v for t, v in tests.items()})
        print(_row(f"{a} alone", s, f"  {longest} {tests[longest]:.2f} s"))
    slow = max(singles, key=singles.__getitem__)
    ratio = full.median("run_s") / singles[slow]
    per_test = {t: full.test_median(t) for t in full.runs[0].runtimes}
    print(
        "  in the full run: "
        + ", ".join(f"{t.removeprefix('call:')} {v:.2f} s" for t, v in per_test.items())
    )
    ok = ratio <= GOAL_MEDIA
    print(f"  longest single media test: {slow}, {singles[slow]:.2f} s")
    print(
        f"  [{'PASS' if ok else 'FAIL'}] the full media-plane probe takes {ratio:.2f}x the "
        f"longest single media test (goal <= {GOAL_MEDIA}x)"
    )
    return {
        "all": full.figures(),
        "alone": {a: s.figures() for a, s in alone.items()},
        "longest_single": {"test": slow, "run_s": round(singles[slow], 3)},
        "ratio": round(ratio, 3),
        "goal": GOAL_MEDIA,
        "ok": ok,
        "world": info,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help=f"repetitions of every run, medians reported (default 3, at most {MAX_REPEAT})",
    )
    ap.add_argument(
        "--only", choices=("baseline", "all_timeout", "media"), help="run one of the parts"
    )
    args = ap.parse_args()
    if not 1 <= args.repeat <= MAX_REPEAT:
        ap.error(f"--repeat must be between 1 and {MAX_REPEAT}")
    if os.geteuid() != 0:
        sys.exit("the simulator needs root (network namespaces): run this as root")
    from voipwatch.probe.experiments import APPS
    from voipwatch.probe.experiments.calls import CALL_APPS

    apps = list(APPS)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    summary: dict[str, Any] = {"repeat": args.repeat, "apps": apps}
    print(
        "probe s: the probe's own run time, the longest test_runtime of the run (all its tests\n"
        "  start together), without interpreter start-up, imports and judging; wall s: the whole\n"
        "  `voipwatch probe` process; CPU s: that process's user + system time"
    )
    if args.only in (None, "baseline"):
        multi, alone, info = bench_world("baseline", [("all", apps, True)], apps, args.repeat)
        summary["baseline"] = report_baseline(multi, alone, info, args.repeat)
    if args.only in (None, "all_timeout"):
        sets = [(f"first {n}", apps[:n], False) for n in TIMEOUT_SETS if n < len(apps)]
        sets.append(("all", apps, True))
        multi, alone, info = bench_world("all_timeout", sets, apps, args.repeat)
        summary["all_timeout"] = report_timeout(multi, alone, info, args.repeat)
    if args.only in (None, "media"):
        calls = list(CALL_APPS)
        multi, alone, info = bench_world(
            "baseline", [("all", calls, True)], calls, args.repeat, plane="media"
        )
        summary["media"] = report_media(multi, alone, info, args.repeat)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["load_average"] = {
        "before": round(load_before, 2),
        "after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    others = max(
        (
            summary[p]["world"]["other_simulations"]
            for p in ("baseline", "all_timeout", "media")
            if p in summary
        ),
        default=0,
    )
    if others or load_before > (os.cpu_count() or 1) / 2:
        print(
            f"\nnote: load average {load_before:.2f} at the start on {os.cpu_count()} CPUs, "
            f"{others} other simulated world(s) seen: other work was running, so "
            "the figures are noisy. Re-run on a quiet machine."
        )
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
