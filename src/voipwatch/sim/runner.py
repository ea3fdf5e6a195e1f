"""``voipwatch simulate``: build a world per scenario, run the probe inside, report.

The probe's JSON lines are passed on as they come (``--json``), each with a
``scenario`` field added; otherwise a table compares every role's verdict with
what the scenario expects.
"""

from __future__ import annotations

import subprocess
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from voipwatch.console import err, out, problem, write_line
from voipwatch.sim.errors import ScenarioError, SimulationError
from voipwatch.sim.network import World
from voipwatch.sim.scenario import Scenario, load
from voipwatch.verdicts.answers import ACCEPT_ALL_NOTE

PROBE_TIMEOUT = 240.0


def load_all(specs: list[str]) -> list[Scenario]:
    return [load(s) for s in specs]


def _drain(stream: Any, keep: deque[str]) -> None:
    for line in stream:
        keep.append(line.rstrip("\n"))


def run_one(scenario: Scenario, on_line: Callable[[dict[str, Any]], None]) -> int:
    """Run the probe in a world for ``scenario``; returns how many verdicts it printed."""
    count = 0
    with World(scenario) as world:
        err.print(
            f"scenario {scenario.name}: world built in {world.timings['build']:.1f} s",
            markup=False,
        )
        for w in world.warnings:
            problem(f"scenario {scenario.name}: {w}")
        proc = world.popen_in_client(
            world.probe_argv(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        stderr_tail: deque[str] = deque(maxlen=20)
        drain = threading.Thread(target=_drain, args=(proc.stderr, stderr_tail), daemon=True)
        drain.start()
        timer = threading.Timer(PROBE_TIMEOUT, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(obj, dict):
                    obj["scenario"] = scenario.name
                    on_line(obj)
                    count += 1
            rc = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            drain.join(timeout=5)
        if rc != 0:
            why = _last_words(stderr_tail)
            if rc < 0:
                why = why or f"killed after {PROBE_TIMEOUT:g} s"
            raise SimulationError(f"the probe exited with status {rc}: {why}")
    err.print(
        f"scenario {scenario.name}: torn down in {world.timings.get('teardown', 0):.1f} s",
        markup=False,
    )
    return count


def _last_words(lines: deque[str]) -> str:
    """The last line of the probe's stderr that says something (not a box border)."""
    for line in reversed(lines):
        text = line.strip(" │╭╮╰╯─|")
        if any(c.isalnum() for c in text):
            return " ".join(text.split())
    return ""


def _table_rows(scenario: Scenario, verdict: dict[str, Any]) -> list[tuple[str, ...]]:
    expected = {e.role: e for e in scenario.expect}
    rows: list[tuple[str, ...]] = []
    services = verdict.get("services")
    for s in services if isinstance(services, list) else []:
        if not isinstance(s, dict):
            continue
        role = str(s.get("role", ""))
        status = str(s.get("status", ""))
        technique = str(s.get("technique") or "")
        e = expected.get(role)
        if e is None:
            mark = ""
        elif e.matches(status, technique or None, bool(s.get("confirmed", False))):
            mark = "as expected"
        else:
            mark = f"expected {' or '.join(e.statuses)}" + (
                f" ({e.technique})" if e.technique else ""
            )
        rows.append((scenario.name, role, status, technique, mark))
    via_expected = {v.role: v.outcomes for v in scenario.via}
    outcomes = verdict.get("via")
    for o in outcomes if isinstance(outcomes, list) else []:
        if not isinstance(o, dict) or o.get("outcome") == "not_blocked":
            continue
        role = str(o.get("role", ""))
        got = str(o.get("outcome"))
        want = via_expected.get(role, ["not_blocked"])
        mark = "as expected" if got in want else f"expected {' or '.join(want)}"
        tool = f"{o.get('tool')} ({o.get('tool_status')})"
        rows.append((scenario.name, f"{role} via {tool}", got, "", mark))
    return rows


def simulate(specs: list[str], *, json: bool, keep_going: bool) -> int:
    """The whole command; returns the exit status (0 ok, 1 a scenario failed, 2 usage)."""
    from rich.table import Table

    try:
        scenarios = load_all(specs)
    except ScenarioError as exc:
        problem(f"voipwatch simulate: {exc}")
        return 2 if "no such scenario" in str(exc) else 1
    failed = 0
    table = Table("scenario", "role", "status", "technique", "check")
    for scenario in scenarios:
        rows: list[tuple[str, ...]] = []
        warnings: set[str] = set()

        def on_line(
            obj: dict[str, Any],
            scenario: Scenario = scenario,
            rows: list[tuple[str, ...]] = rows,
            warnings: set[str] = warnings,
        ) -> None:
            notes = obj.get("notes")
            for n in notes if isinstance(notes, list) else []:
                if isinstance(n, str) and n.startswith(ACCEPT_ALL_NOTE):
                    warnings.add(n)
            if json:
                write_line(orjson.dumps(obj))
            else:
                rows.extend(_table_rows(scenario, obj))

        try:
            run_one(scenario, on_line)
        except SimulationError as exc:
            failed += 1
            problem(f"voipwatch simulate: scenario {scenario.name}: {exc}")
            if not keep_going:
                break
            continue
        for w in sorted(warnings):
            err.print(f"scenario {scenario.name}: warning: {w}", markup=False)
        for row in rows:
            table.add_row(*row)
    if not json and table.row_count:
        out.print(table)
    return 1 if failed else 0
