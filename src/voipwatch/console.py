"""Terminal plumbing shared by the commands: data on stdout, everything else on stderr."""

from __future__ import annotations

import re
import sys
from typing import Final

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


#: Problems shown one by one per file; the rest of a file's are counted and summarised.
PROBLEMS_PER_FILE: Final = 100
_WHERE: Final = re.compile(r"^(.*?):[0-9]+: ")


class Problems:
    """Problem lines, at most ``per_file`` of them for each file; then one summary line
    per file for the rest (a file of a million broken lines must not print a million
    lines). The file is what a message names before ``:line:``."""

    def __init__(self, per_file: int = PROBLEMS_PER_FILE) -> None:
        self.per_file = per_file
        self.seen: dict[str, int] = {}

    def __call__(self, message: str) -> None:
        m = _WHERE.match(message)
        key = m.group(1) if m else ""
        n = self.seen.get(key, 0) + 1
        self.seen[key] = n
        if n <= self.per_file:
            problem(message)

    @property
    def hidden(self) -> int:
        return sum(max(0, n - self.per_file) for n in self.seen.values())

    def summarise(self) -> None:
        for key, n in self.seen.items():
            if n > self.per_file:
                where = key or "other inputs"
                problem(
                    f"{where}: {n - self.per_file:,} more problems not shown "
                    f"({n:,} in all; the first {self.per_file} are above)"
                )


def show_line(line: str) -> None:
    """A human-readable line on stdout. It may carry imported text or measurement
    fields: their control characters (a terminal's escape sequences) are shown
    escaped, never sent raw; ``--json`` output keeps the exact text."""
    out.print(terminal_text(line), markup=False)


def write_line(data: bytes) -> None:
    """Write one JSONL line to stdout (bypassing Rich for speed and exactness)."""
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.write(b"\n")
