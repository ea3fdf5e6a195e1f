"""``voipwatch data refresh``: newer indicator figures from the World Bank API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voipwatch.cli.options import JsonOpt, encoder, said
from voipwatch.console import err, out, problem, write_line

data_app = typer.Typer(help="The indicator tables the cost model reads.", no_args_is_help=True)


@data_app.command("refresh")
def refresh(
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            envvar="VOIPWATCH_WORLDBANK_API",
            help="World Bank API base (default https://api.worldbank.org/v2).",
            show_default=False,
        ),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Overlay file to write (default: $VOIPWATCH_INDICATORS, else the user "
            "data directory); the cost model reads it on top of the shipped table.",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per request.")] = 30.0,
    json: JsonOpt = False,
) -> None:
    """Fetch GDP, population, Internet users and mobile subscriptions from the World
    Bank API. Nothing is written unless every response was read and checked."""
    from voipwatch.cost.indicators import overlay_path
    from voipwatch.cost.refresh import default_endpoint, http_fetch
    from voipwatch.cost.refresh import refresh as run
    from voipwatch.errors import InputError

    path = out_file or overlay_path()
    base = endpoint or default_endpoint()
    try:
        counts = run(
            path,
            endpoint=base,
            fetch=http_fetch(timeout),
            on_progress=lambda code: err.print(f"fetching {code}", markup=False),
        )
    except InputError as exc:
        problem(f"voipwatch data refresh: {exc}; nothing was written")
        raise typer.Exit(1) from None
    except OSError as exc:
        problem(f"voipwatch data refresh: {path}: {exc.strerror or exc}; nothing was written")
        raise typer.Exit(1) from None
    if json:
        write_line(encoder.encode({"out": str(path), "endpoint": base, "figures": counts}))
    else:
        total = sum(counts.values())
        err.print(f"{total:,} figures from {base} written to {path}", markup=False)


@data_app.command("show")
def show(
    country: Annotated[str, typer.Argument(help="ISO country code (BR or BRA).")],
    json: JsonOpt = False,
) -> None:
    """The indicator figures the cost model holds for a country, each with its year
    and source (refreshed figures included)."""
    from voipwatch.cost.indicators import INDICATORS, load_table
    from voipwatch.errors import InputError, UsageError

    try:
        table = load_table()
        c = table.country(country)
    except UsageError as exc:
        problem(f"voipwatch data show: {said(exc)}")
        raise typer.Exit(2) from None
    except InputError as exc:
        problem(f"voipwatch data show: {exc}")
        raise typer.Exit(1) from None
    for indicator in INDICATORS:
        series = table.series.get((c.iso3, indicator), {})
        for year in sorted(series):
            value, sid = series[year]
            src = table.sources.get(sid)
            row = {
                "country": c.iso2,
                "indicator": indicator,
                "year": year,
                "value": value,
                "source": src.title if src else sid,
                "url": src.url if src else "",
            }
            if json:
                write_line(encoder.encode(row))
            else:
                out.print(
                    f"{c.iso2} {indicator} {year} {value:,.2f}  ({row['source']})", markup=False
                )
