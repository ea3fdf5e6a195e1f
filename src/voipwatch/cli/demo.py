"""``voipwatch demo``: build the demo store from a synthetic world, then serve the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voipwatch.cli.options import JsonOpt


def _free_port(host: str, wanted: int) -> int:
    """``wanted`` when it is free on ``host``, else one the system picks."""
    import socket

    for port in (wanted, 0):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            found: int = s.getsockname()[1]
            return found
    raise OSError(f"no free port on {host}")


def demo(
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="Store file (default: voipwatch-demo.duckdb in the user data directory, "
            "apart from yours).",
            show_default=False,
        ),
    ] = None,
    build_only: Annotated[
        bool, typer.Option("--build-only", help="Build the store, do not serve.")
    ] = False,
    cases: Annotated[
        list[Path] | None,
        typer.Option(
            "--cases",
            help="Documented-case files to import (OONI incidents, Access Now STOP, CenAlert; "
            "default: those voipwatch ships). Repeatable.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (another free one if taken).")] = 8000,
    json: JsonOpt = False,
) -> None:
    """Run the whole pipeline on a synthetic world and serve the dashboard.

    Generates a labelled synthetic world (real countries and networks, invented
    measurements), judges and stores it, imports the documented cases, detects events,
    matches them to the cases, prices them, then serves the dashboard on HOST:PORT
    until Ctrl-C. Offline; everything synthetic is labelled as such.
    """
    import time

    from voipwatch import demo as demo_mod
    from voipwatch.catalog import load as load_catalog
    from voipwatch.cli.options import encoder, store_failures
    from voipwatch.console import err, problem, write_line
    from voipwatch.store import open_store

    path = db or demo_mod.default_demo_db()
    started = time.perf_counter()
    if db is None and path.exists():
        # The demo's own store from an older version or another world: start afresh.
        with store_failures("demo"), open_store(path) as store:
            stale = demo_mod.foreign(store)
        if stale:
            err.print(f"demo: {path} holds an older demo; building it afresh", markup=False)
            path.unlink()
            path.with_name(path.name + ".wal").unlink(missing_ok=True)
    with store_failures("demo"), open_store(path) as store:
        result = demo_mod.build(
            store,
            catalog=load_catalog(),
            cases=cases,
            on_step=lambda what: err.print(f"demo: {what} …", markup=False),
            on_problem=problem,
        )
    total = time.perf_counter() - started
    for skipped in result.skipped:
        problem(f"demo: skipped {skipped}")
    if json:
        write_line(encoder.encode({**result.to_dict(), "total_seconds": round(total, 2)}))
    else:
        s = result.ingested
        made = f"{s.new:,} measurements judged" if s else "measurements already in the store"
        events = ", ".join(f"{cc} {n}" for cc, n in sorted(result.events_by_country.items()))
        err.print(
            f"demo: {made}; {result.events} events ({events or 'none'}), "
            f"{sum(1 for _ in result.cases)} case files imported, {result.matched} matches, "
            f"{result.costs} priced; {total:.0f} s. Store: {path}\n"
            "demo: every measurement in it is SYNTHETIC (generated, not real); the legal "
            "context"
            + (
                ", economic figures and documented cases"
                if result.cases
                else " and economic figures"
            )
            + " are real.",
            markup=False,
        )
    if build_only:
        if not json and result.events_by_country:
            cc = max(sorted(result.events_by_country), key=result.events_by_country.__getitem__)
            err.print(
                f"Next: voipwatch serve --db {path} --demo, or voipwatch report --db {path} "
                f"--country {cc} --format pdf",
                markup=False,
            )
        return
    from voipwatch.cli.serve import serve_store

    try:
        port = _free_port(host, port)
    except OSError as exc:
        problem(f"voipwatch demo: {exc}")
        raise typer.Exit(1) from None
    err.print("demo: the dashboard shows synthetic demo data; Ctrl-C stops it", markup=False)
    serve_store(path, host=host, port=port, demo=True)
