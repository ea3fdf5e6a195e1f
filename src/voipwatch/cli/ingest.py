"""``voipwatch ingest``: load measurements into the store, idempotently."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voipwatch.cli.options import (
    DbOpt,
    JsonOpt,
    PathsArg,
    WorkersOpt,
    store_counts,
    store_failures,
)
from voipwatch.cli.output import FAILED
from voipwatch.console import Problems, err, progress


def ingest(
    paths: PathsArg,
    db: DbOpt = None,
    json: JsonOpt = False,
    workers: WorkersOpt = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="serial, process or dask (default: process, or this process for one worker).",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="tcp://HOST:PORT of a running Dask scheduler."),
    ] = None,
    parts: Annotated[
        Path | None,
        typer.Option(
            "--parts",
            help="Where workers leave their rows for the store (shared by every worker; "
            "default: beside the store).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Load measurements into the store; print counts read / new / duplicate / quarantined.

    Idempotent: a measurement already stored (same report, input, start time and test)
    counts as a duplicate, so re-running on the same files adds nothing, and a run that
    was killed can simply be run again. Records that cannot be read are reported on
    stderr and kept in the store's quarantine with the reason.
    """
    from voipwatch.store import IngestProgress, open_store
    from voipwatch.store import ingest as run_ingest

    shown = Problems()
    with store_failures("ingest"), open_store(db) as store, progress() as bar:
        task = bar.add_task("ingest", total=None, detail="")

        def on_progress(p: IngestProgress) -> None:
            bar.update(
                task,
                total=p.files_total,
                completed=p.files_done,
                detail=f"{p.records:,} records  {p.current}",
            )

        stats = run_ingest(
            store,
            paths,
            on_problem=shown,
            on_progress=on_progress,
            workers=workers,
            engine=engine,
            scheduler=scheduler,
            parts_dir=parts,
        )
    shown.summarise()
    keys = ["files", "read", "new", "duplicate", "quarantined"]
    store_counts(f"ingested into {store.path}", store.path, stats.as_dict(), keys, json=json)
    if stats.missing and not json:
        err.print(f"{stats.missing} path(s) not found", markup=False)
    if stats.new + stats.duplicate == 0:
        raise typer.Exit(FAILED)
