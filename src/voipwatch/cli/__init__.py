"""The voipwatch command line: the Typer app and its console-script entry point."""

from __future__ import annotations

from voipwatch.cli.verbs import app, main

__all__ = ["app", "main"]
