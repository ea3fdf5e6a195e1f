"""Terminal plumbing shared by the commands: data on stdout, everything else on stderr."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from voipwatch.untrusted import terminal_text

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def progress() -> Progress:
    """A progress display on stderr, silent when stderr is not a terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    )


def problem(message: str) -> None:
    """One clear line per problem, on stderr, never markup-interpreted; a problem often
    quotes the input, so its control characters are shown escaped."""
    err.print(terminal_text(message), markup=False, style="yellow")


def show_line(line: str) -> None:
    """A human-readable line on stdout. It may carry imported text or measurement
    fields: their control characters (a terminal's escape sequences) are shown
    escaped, never sent raw; ``--json`` output keeps the exact text."""
    out.print(terminal_text(line), markup=False)


def write_line(data: bytes) -> None:
    """Write one JSONL line to stdout (bypassing Rich for speed and exactness)."""
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.write(b"\n")
