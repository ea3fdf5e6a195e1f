"""``voipwatch events``: count cells, detect blocking events, store and list them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voipwatch.cli.options import DbOpt, JsonOpt, encoder, store_failures
from voipwatch.console import PROBLEMS_PER_FILE, Problems, out, problem, write_line

if TYPE_CHECKING:
    from voipwatch.events import Event, UsageFile

UsageOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--usage",
        help="Circumvention-usage CSV to corroborate events with: Tor Metrics' per-country "
        "estimates (date,country,users,lower,upper,frac) or date,country,users; imported "
        "into the store (replacing an earlier import of the same file name); malformed "
        "rows are named with their line, quarantined and left out.",
        show_default=False,
    ),
]
KnownOpt = Annotated[
    Path | None,
    typer.Option(
        "--known-changes",
        help="TOML list of known changes on the apps' side ([[change]] with date, app, role, "
        "kind, what, source) to label as artefacts instead of the list voipwatch ships.",
        show_default=False,
    ),
]
RebuildOpt = Annotated[
    bool, typer.Option("--rebuild", help="Count every cell again and rerun the detector.")
]


def _when(e: Event) -> str:
    start = e.start.strftime("%Y-%m-%d %H:%M")
    end = e.end.strftime("%Y-%m-%d %H:%M") if e.end else "ongoing"
    return f"{start} → {end}"


def _table(events: list[Event], db: Path) -> None:
    from rich.table import Table

    table = Table(title=f"{len(events)} event(s) in {db}", title_justify="left")
    for name in ("kind", "cc", "networks", "service", "roles", "techniques"):
        # Folded, not cut short: the names are the evidence.
        table.add_column(name, overflow="fold")
    table.add_column("start → end (UTC)", overflow="fold")
    table.add_column("conf.", justify="right")
    table.add_column("msmts", justify="right")
    for e in events:
        nets = ", ".join(f"AS{a}" for a in e.asns) or "all"
        if e.national:
            nets = f"national ({nets})"
        table.add_row(
            e.kind,
            e.probe_cc,
            nets,
            e.service,
            ", ".join(e.roles) or "-",
            ", ".join(e.techniques) or "-",
            _when(e),
            f"{e.confidence:.2f}",
            f"{e.measurements:,}",
        )
    out.print(table)


def _import_line(f: UsageFile) -> str:
    shape = "Tor Metrics' per-country estimates" if f.shape == "tor-metrics" else "usage"
    tool = f" of {f.tool}" if f.tool else ""
    line = f"voipwatch events: {f.source}: {len(f.rows):,} rows of {shape}{tool} imported"
    if f.bad:
        line += f", {len(f.bad):,} malformed left out (quarantined)"
    if f.skipped:
        line += f", {f.skipped:,} about no one country or with no figure skipped"
    return line


def events(
    db: DbOpt = None,
    json: JsonOpt = False,
    usage: UsageOpt = None,
    rebuild: RebuildOpt = False,
    known_changes: KnownOpt = None,
) -> None:
    """Detect blocking events in the store, store them, and list them.

    Counts verdicts into cells per country, network, service, role, plane and hour
    (only the hours whose measurements changed since the last run), runs the
    change-point detector over every cell series, rolls networks that changed
    together up into national events, labels artefacts, never counted as blocking
    (target_change: the same role failing in most countries measured at once, or a
    known change of the app; outage: the same, over within two days;
    possible_shutdown: a network's measurement volume collapsing), reports
    throttling (the call test's downloads naming an app running far slower than
    the same downloads naming a harmless site: interference, not a block) and
    stores the events for the API.

    With --json, one object per event: event_id, kind, probe_cc, asns, national,
    service, roles, plane, techniques, start, start_earliest, start_latest, end
    (null while ongoing), end_earliest, end_latest (ISO 8601 UTC), confidence
    (0-1), measurements, blocked_share, surges (each: source, tool, date, value,
    before, ratio, expected_high) and evidence.

    While a server holds the store, this lists the events stored by the last
    detection (`voipwatch serve --watch` runs one after each batch) instead.
    """
    from voipwatch.errors import InputError, StoreBusy, StoreError
    from voipwatch.events import (
        build_cells,
        detect_events,
        load_events,
        load_known_changes,
        quarantine_usage,
        read_usage_csv,
        save_events,
        save_usage,
    )
    from voipwatch.store import Store, default_db_path, open_store
    from voipwatch.store.snapshot import current_snapshot
    from voipwatch.views.measurements import measurement_count

    with store_failures("events"):
        path = (db or default_db_path()).expanduser()
        if not path.exists():
            raise StoreError(f"{path}: no store here (create one with `voipwatch ingest`)")
        try:
            imports = [read_usage_csv(p) for p in usage or []]
            changes = load_known_changes(known_changes)
        except InputError as exc:
            problem(f"voipwatch events: {exc}")
            raise typer.Exit(2) from None
        shown = Problems()
        for f in imports:
            for bad in f.bad:
                shown(str(bad.error))
        shown.summarise()
        needs_writer = bool(imports) or rebuild or known_changes is not None
        writer: Store | None = None
        busy: StoreBusy | None = None
        if current_snapshot(path) is None:
            try:
                writer = open_store(path)
            except StoreBusy as exc:
                busy = exc
        if writer is None:
            if busy is not None and needs_writer:
                raise busy
            if needs_writer:
                problem(
                    f"voipwatch events: {path} is held by a running `voipwatch serve`, "
                    "which detects the events itself; --usage, --rebuild and "
                    "--known-changes need the store to themselves"
                )
                raise typer.Exit(1)
            try:
                reader = open_store(path, read_only=True)
            except StoreBusy as exc:
                # A writer (an ingest) holds it: nobody can read it now.
                raise (busy or exc) from None
            problem(
                f"voipwatch events: {path} is held by a running server; listing the "
                "events of the last detection stored (`voipwatch serve --watch` detects "
                "them after each batch)"
            )
            with reader:
                found = load_events(reader)
        else:
            with writer as store:
                if not measurement_count(store.con):
                    problem(
                        f"voipwatch events: {store.path}: the store holds no "
                        "measurements; load some with `voipwatch ingest PATH...`"
                    )
                    raise typer.Exit(1)
                for f in imports:
                    save_usage(store, f)
                    # As for measurements: the first problems of a file are kept, the
                    # rest counted.
                    quarantine_usage(store, f.bad[:PROBLEMS_PER_FILE], datetime.now(UTC))
                    problem(_import_line(f))
                # Inline, so that detection can let the counted cells go once read.
                found = detect_events(
                    store, cells=build_cells(store, rebuild=rebuild).counted, known_changes=changes
                )
                save_events(store, found)
    if json:
        for e in found:
            write_line(encoder.encode(e))
    elif found:
        _table(found, path)
    else:
        out.print(f"no events detected in {path}")
