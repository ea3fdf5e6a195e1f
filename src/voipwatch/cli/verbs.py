"""The ``voipwatch`` app and its verbs, listed once, in the order ``--help`` shows them.

A verb is a module of this package holding one command function, or one Typer group
for a verb with sub-verbs (``voipwatch cases list``). Adding a verb is adding its
module and one line to :data:`VERBS`; nothing is discovered by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final, TypeAlias

import typer

from voipwatch import __version__
from voipwatch.cli import (
    aggregate,
    cases,
    context,
    cost,
    data,
    demo,
    evaluate,
    events,
    export,
    fetch,
    generate,
    helper,
    ingest,
    locate,
    probe,
    rejudge,
    report,
    serve,
    simulate,
    upload,
    verdicts,
    verify_bundle,
)
from voipwatch.console import out

#: A command function, or the Typer group of a verb with sub-verbs.
Verb: TypeAlias = Callable[..., None] | typer.Typer

#: ``(name, verb)``: commands list in this order, then groups in theirs (Typer's way).
VERBS: Final[tuple[tuple[str, Verb], ...]] = (
    ("verdicts", verdicts.verdicts),
    ("ingest", ingest.ingest),
    ("rejudge", rejudge.rejudge),
    ("aggregate", aggregate.aggregate),
    ("export", export.export),
    ("helper", helper.helper_app),
    ("simulate", simulate.simulate),
    ("cases", cases.cases_app),
    ("context", context.context),
    ("cost", cost.cost),
    ("data", data.data_app),
    ("demo", demo.demo),
    ("evaluate", evaluate.evaluate),
    ("events", events.events),
    ("fetch", fetch.fetch),
    ("generate", generate.generate),
    ("locate", locate.locate_app),
    ("probe", probe.probe),
    ("upload", upload.upload),
    ("report", report.report),
    ("serve", serve.serve),
    ("verify-bundle", verify_bundle.verify_bundle),
)


def _version(value: bool) -> None:
    if value:
        out.print(f"voipwatch {__version__}")
        raise typer.Exit()


def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """voipwatch: measure, judge, detect and document the blocking of calls and messaging."""


def build(verbs: tuple[tuple[str, Verb], ...] = VERBS) -> typer.Typer:
    """The ``voipwatch`` Typer app with ``verbs``, each registered the same way."""
    app = typer.Typer(
        name="voipwatch",
        help="An open observatory for the blocking of VoIP and messaging apps.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_main)
    for name, verb in verbs:
        if isinstance(verb, typer.Typer):
            app.add_typer(verb, name=name)
        else:
            app.command(name)(verb)
    return app


app = build()


def main() -> None:
    """Console-script entry point."""
    app()
