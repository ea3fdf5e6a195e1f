"""``voipwatch generate``: a labelled synthetic world of measurements."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voipwatch.cli.options import JsonOpt, encoder
from voipwatch.console import out, problem, write_line


def generate(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the measurements and labels.json.")
    ],
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="The same seed gives the same files.")
    ] = 1,
    weeks: Annotated[int, typer.Option("--weeks", min=3, help="Length of the world.")] = 8,
    countries: Annotated[int, typer.Option("--countries", min=1, help="How many.")] = 6,
    networks: Annotated[int, typer.Option("--networks", min=1, help="How many, in all.")] = 20,
    events: Annotated[
        int,
        typer.Option(
            "--events", min=0, help="Blocks to inject (besides target changes and shutdowns)."
        ),
    ] = 64,
    start: Annotated[
        str | None, typer.Option("--start", help="First day, YYYY-MM-DD (UTC).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Write a synthetic world: OONI-format measurements and their ground truth.

    The four OONI IM tests and voipwatch's call-plane test, from every network of
    the world, with daily and weekly rhythm, noise, target changes, shutdowns and
    injected blocks of every size and technique; labels in OONI's event-label shape
    go to OUT/labels.json. Feed it to `voipwatch ingest OUT/raw`, then `voipwatch
    evaluate --labels OUT/labels.json`.
    """
    from datetime import UTC, datetime

    from voipwatch.catalog import load as load_catalog
    from voipwatch.events import DEFAULT_START, generate_world

    first = DEFAULT_START
    if start is not None:
        try:
            first = datetime.strptime(start, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            problem(f"voipwatch generate: --start {start!r} is not a date (YYYY-MM-DD)")
            raise typer.Exit(2) from None
    if out_dir.exists() and not out_dir.is_dir():
        problem(f"voipwatch generate: {out_dir} exists and is not a folder")
        raise typer.Exit(2)
    try:
        summary = generate_world(
            seed,
            out_dir,
            catalog=load_catalog(),
            weeks=weeks,
            countries=countries,
            networks=networks,
            events=events,
            start=first,
        )
    except (ValueError, FileExistsError) as exc:
        problem(f"voipwatch generate: {exc}")
        raise typer.Exit(2) from None
    except OSError as exc:
        problem(f"voipwatch generate: cannot write {out_dir}: {exc}")
        raise typer.Exit(1) from None
    if json:
        write_line(encoder.encode(summary.to_dict()))
        return
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(summary.labels_by_kind.items()))
    out.print(
        f"{summary.measurements:,} measurements in {summary.files:,} files under "
        f"{summary.out / 'raw'}; {summary.networks} networks in {len(summary.countries)} "
        f"countries ({', '.join(summary.countries)}), {summary.start:%Y-%m-%d} to "
        f"{summary.end:%Y-%m-%d}; labels: {kinds} -> {summary.out / 'labels.json'}"
    )
