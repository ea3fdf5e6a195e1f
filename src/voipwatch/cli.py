"""The voipwatch command line (see DESIGN.md, "Command line").

Every command is thin: it parses options, calls the room that does the work, and
prints. Data goes to stdout (JSONL with ``--json``), progress and problems to stderr.
Exit status: 0 when the run finished (even with bad records, which are reported and
counted), 1 when no input could be read at all, 2 for usage errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
import typer

from voipwatch import __version__
from voipwatch.console import err, out, problem, write_line

app = typer.Typer(
    name="voipwatch",
    help="An open observatory for the blocking of VoIP and messaging apps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_encoder = msgspec.json.Encoder()

PathsArg = Annotated[
    list[Path],
    typer.Argument(help="Measurement files or directories (.json, .jsonl, .gz, postcan .tar.gz)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")]


def _version(value: bool) -> None:
    if value:
        out.print(f"voipwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """voipwatch: measure, judge, detect and document the blocking of calls and messaging."""


@app.command()
def verdicts(paths: PathsArg, json: JsonOpt = False) -> None:
    """Judge measurement files: one verdict per measurement, in input order."""
    import os
    import sys

    from rich.table import Table

    from voipwatch.errors import InputError
    from voipwatch.ooni.reader import Problem, read_paths
    from voipwatch.verdicts import judge

    read = bad = 0
    table: Table | None = None
    if not json:
        table = Table("measurement_uid", "test", "cc", "asn", "status", "roles not ok")
    try:
        for item in read_paths(paths):
            if isinstance(item, Problem):
                bad += 1
                problem(str(item))
                continue
            try:
                j = judge(item)
            except InputError as exc:
                bad += 1
                problem(str(exc))
                continue
            except Exception as exc:  # a rule tripped on odd input: report, go on
                bad += 1
                where = f"{item.source}:{item.line}" if item.line else item.source
                problem(
                    f"{where}: could not judge ({exc.__class__.__name__}: {exc}); "
                    "this is a voipwatch bug, please report it"
                )
                continue
            read += 1
            v = j.verdict
            if table is None:
                write_line(_encoder.encode(v))
            else:
                roles = ", ".join(
                    f"{s.role} {s.status}" + (f" ({s.technique})" if s.technique else "")
                    for s in v.services
                    if s.status != "ok"
                )
                table.add_row(
                    v.measurement_uid, v.test_name, v.probe_cc, v.probe_asn, v.status, roles
                )
        if table is not None and read:
            out.print(table)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    err.print(f"{read} measurements judged, {bad} problems", markup=False)
    if read == 0:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------
# Store commands (ingest, rejudge, aggregate, export) live below this line.
# ---------------------------------------------------------------------------------------


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
