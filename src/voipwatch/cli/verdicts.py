"""``voipwatch verdicts``: judge measurement files, one verdict per measurement."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from voipwatch.cli.options import JsonOpt, PathsArg, encoder
from voipwatch.cli.output import FAILED, bug, stdout_may_close
from voipwatch.console import Problems, err, problem, progress, write_line
from voipwatch.errors import FingerprintTableError, InputError
from voipwatch.untrusted import terminal_text

if TYPE_CHECKING:
    from voipwatch.verdicts import Verdict


def verdicts(paths: PathsArg, json: JsonOpt = False) -> None:
    """Judge measurement files: one verdict per measurement, in input order.

    Without --json, one line per measurement: uid, test, country, network, status and
    the roles that are not ok, each technique marked "suspected" unless a control or a
    censor's fingerprint confirmed it. Output is streamed, so any input size runs in
    constant memory.
    """
    from voipwatch.ooni.reader import Problem, read_paths
    from voipwatch.verdicts import judge
    from voipwatch.via import judge_via_bytes, verdict_object

    read = bad = 0
    shown = Problems()
    with stdout_may_close(), progress() as bar:
        task = bar.add_task("judging", total=None, detail="")
        for item in read_paths(paths):
            if isinstance(item, Problem):
                bad += 1
                shown(str(item))
                continue
            try:
                j = judge(item)
            except InputError as exc:
                bad += 1
                shown(str(exc))
                continue
            except FingerprintTableError as exc:
                # Every verdict needs the table: stop at once rather than once per line.
                problem(f"voipwatch verdicts: {exc}")
                raise typer.Exit(FAILED) from None
            except Exception as exc:  # a rule tripped on odd input: report, go on
                bad += 1
                shown(bug(f"{item.source}:{item.line}" if item.line else item.source, exc))
                continue
            read += 1
            if read % 1000 == 0:
                bar.update(task, completed=read, detail=item.source)
            v = j.verdict
            if json:
                # A measurement made through a tool: its via outcomes beside it.
                write_line(encoder.encode(verdict_object(v, judge_via_bytes(item.raw, v))))
            else:
                write_line(terminal_text(_line(v)).encode())
    shown.summarise()
    err.print(f"{read} measurements judged, {bad} problems", markup=False)
    if read == 0:
        raise typer.Exit(FAILED)


def _line(v: Verdict) -> str:
    """uid, test, country, network, status, then each role that is not ok."""
    roles = ", ".join(
        f"{s.role} {s.status}"
        + (f" ({'' if s.confirmed else 'suspected '}{s.technique})" if s.technique else "")
        for s in v.services
        if s.status != "ok"
    )
    line = f"{v.measurement_uid}  {v.test_name}  {v.probe_cc}  {v.probe_asn}"
    return f"{line}  {v.status}  {roles}".rstrip()
