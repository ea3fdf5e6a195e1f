"""How a verb ends: its exit statuses, a closed stdout, and a rule that tripped.

Exit statuses are the command line's contract (DESIGN.md, "Command line"): scripts
tell a finished run from one that read nothing, and both from a wrong call.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import typer

#: The run finished (bad records, reported and counted, do not change that).
OK: Final = 0
#: Nothing could be done: no input read, a store or a source that failed.
FAILED: Final = 1
#: The command was called wrongly.
USAGE: Final = 2
#: Interrupted (Ctrl-C), as a shell reports SIGINT.
INTERRUPTED: Final = 130


@contextmanager
def stdout_may_close() -> Iterator[None]:
    """End quietly with status 0 when the reader of stdout goes away (``| head``), as
    Unix tools do, instead of a traceback."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; pointing it at /dev/null keeps that quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(OK) from None


def bug(where: str, exc: Exception) -> str:
    """The line for a rule that raised on odd input: the record is skipped, the run goes
    on, and the reader is told whose fault it is."""
    return (
        f"{where}: could not judge ({exc.__class__.__name__}: {exc}); "
        "this is a voipwatch bug, please report it"
    )
