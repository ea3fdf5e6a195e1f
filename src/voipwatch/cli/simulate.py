"""``voipwatch simulate``: the probe inside a simulated censored network."""

from __future__ import annotations

from typing import Annotated

import typer

from voipwatch.cli.options import JsonOpt, said
from voipwatch.cli.output import FAILED, INTERRUPTED, stdout_may_close
from voipwatch.console import problem
from voipwatch.errors import VoipwatchError


def simulate(
    scenarios: Annotated[
        list[str],
        typer.Argument(help="Built-in scenario names (e.g. baseline, sni_reset) or TOML files."),
    ],
    json: JsonOpt = False,
    keep_going: Annotated[
        bool, typer.Option("--keep-going", help="Run the other scenarios when one fails.")
    ] = False,
) -> None:
    """Run the probe inside a simulated censored network, one world per scenario (root)."""
    from voipwatch.sim.runner import simulate as run

    try:
        with stdout_may_close():
            status = run(scenarios, json=json, keep_going=keep_going)
    except KeyboardInterrupt:
        problem("voipwatch simulate: interrupted; the simulated world was torn down")
        raise typer.Exit(INTERRUPTED) from None
    except VoipwatchError as exc:
        problem(f"voipwatch simulate: {said(exc)}")
        raise typer.Exit(FAILED) from None
    raise typer.Exit(status)
