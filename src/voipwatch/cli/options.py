"""Options and helpers every verb shares: the store option, JSON output, failures.

A command module imports what it needs from here so that every verb spells ``--db``,
``--json`` and its exit statuses the same way (DESIGN.md, "Command line").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from voipwatch.cli.output import FAILED, INTERRUPTED, USAGE
from voipwatch.console import out, problem, write_line
from voipwatch.errors import FingerprintTableError, InvalidValue, StoreError, UsageError

encoder = msgspec.json.Encoder()

#: Fields of :class:`~voipwatch.errors.InvalidValue` whose flag is not ``--<field>``
#: (underscores as dashes).
FLAGS: dict[str, str] = {}


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def said(exc: Exception) -> str:
    """An error in the command line's words: a field the domain names is its flag."""
    if isinstance(exc, InvalidValue):
        return exc.worded(FLAGS, _flag)
    return str(exc)


PathsArg = Annotated[
    list[Path],
    typer.Argument(help="Measurement files or directories (.json, .jsonl, .gz, postcan .tar.gz)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")]


DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db",
        envvar="VOIPWATCH_DB",
        help="Store file (default: voipwatch.duckdb in the user data directory).",
        show_default=False,
    ),
]


@contextmanager
def store_failures(command: str) -> Iterator[None]:
    """One line on stderr instead of a traceback: exit 2 for usage, 1 for the store."""
    try:
        yield
    except UsageError as exc:
        problem(f"voipwatch {command}: {said(exc)}")
        raise typer.Exit(USAGE) from None
    except (StoreError, FingerprintTableError) as exc:
        problem(f"voipwatch {command}: {exc}")
        raise typer.Exit(FAILED) from None
    except KeyboardInterrupt:
        problem(
            f"voipwatch {command}: interrupted; every batch already written is complete, "
            "run the same command again to finish"
        )
        raise typer.Exit(INTERRUPTED) from None


def counts_table(title: str, counts: dict[str, int | float], keys: list[str]) -> None:
    from rich.table import Table

    table = Table(*keys, title=title, title_justify="left")
    table.add_row(*(f"{counts[k]:,}" for k in keys))
    out.print(table)


def store_counts(
    title: str, db: Path, counts: dict[str, int | float], keys: list[str], *, json: bool
) -> None:
    """What a command that writes the store counted: one JSON object naming the store,
    or a table of ``keys``."""
    if json:
        write_line(encoder.encode({"db": str(db), **counts}))
    else:
        counts_table(title, counts, keys)


WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Processes reading and judging files (default: one per CPU, at most one "
        "per file; 1 reads them in this process). The store is the same either way.",
        show_default=False,
    ),
]
