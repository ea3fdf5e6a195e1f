"""The voipwatch command line (see DESIGN.md, "Command line").

Every command is thin: it parses options, calls the room that does the work, and
prints. Data goes to stdout (JSONL with ``--json``), progress and problems to stderr.
Exit status (:mod:`voipwatch.cli.output`): 0 when the run finished (even with bad
records, which are reported and counted), 1 when no input could be read at all, 2 for
usage errors, 130 when interrupted.

One module per verb, listed once in :mod:`voipwatch.cli.verbs`. Verbs import the room
that does the work inside the command function, so ``voipwatch --help`` loads none of
them; this package is the only place that does so.
"""

from __future__ import annotations

from voipwatch.cli.verbs import app, main

__all__ = ["app", "main"]
