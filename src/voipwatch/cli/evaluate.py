"""``voipwatch evaluate``: how well the detector finds labelled events."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from voipwatch.cli.options import DbOpt, JsonOpt, encoder, store_failures
from voipwatch.console import out, problem, write_line

if TYPE_CHECKING:
    from voipwatch.events import Event
    from voipwatch.store import Store


def _coverage(store: Store) -> tuple[dict[str, list[int]], datetime | None, datetime | None]:
    """The networks measured per country, and the period the data covers."""
    from voipwatch.errors import StoreError
    from voipwatch.views.measurements import network_periods

    try:
        rows = network_periods(store.con)
    except Exception as exc:  # duckdb raises its own types; say what failed, once
        raise StoreError(f"{store.path}: cannot read measurements: {exc}") from None
    networks: dict[str, list[int]] = {}
    first: datetime | None = None
    last: datetime | None = None
    for cc, asn, lo, hi in rows:
        digits = "".join(ch for ch in str(asn) if ch.isdigit())
        if digits:
            networks.setdefault(str(cc), []).append(int(digits))
        if lo is not None:
            first = lo if first is None else min(first, lo)
        if hi is not None:
            last = hi if last is None else max(last, hi)
    return networks, first, last


def _events(store: Store, stored: bool) -> list[Event]:
    """Detect afresh (cells, then change points), or read what ``voipwatch events`` stored."""
    if stored:
        from voipwatch.events import load_events

        return load_events(store)
    from voipwatch.events import build_cells, detect_events

    return detect_events(store, cells=build_cells(store).counted)


def _table(report: dict[str, Any]) -> None:
    from rich.table import Table

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{x:.0%}"

    t = Table("measure", "value", title="event detection against the labels", title_justify="left")
    t.add_row("labels read", f"{report['labelled']:,}")
    t.add_row("scored / excluded", f"{report['scored']:,} / {report['excluded']:,}")
    t.add_row("detected", f"{report['detected']:,}")
    t.add_row("recall", pct(report["recall"]))
    for band, value in report["recall_by_band"].items():
        n = report["labelled_by_band"].get(band, 0)
        t.add_row(f"  {band.replace('_', '-')} ({n})", pct(value))
    for kind, value in report["recall_by_kind"].items():
        t.add_row(f"  {kind}", pct(value))
    fa = report["false_alarms_per_series_week"]
    t.add_row(
        "false alarms per quiet series-week",
        "—"
        if fa is None
        else f"{fa:.3f} ({report['lead_in_alarms']} in {report['lead_in_series_weeks']:,} "
        "series-weeks)",
    )
    for kind, rate in report["false_alarms_by_kind"].items():
        t.add_row(f"  {kind}", f"{rate:.3f}")
    for key, name in (
        ("median_latency_hours", "median latency (h)"),
        ("p90_latency_hours", "90th percentile latency (h)"),
        ("median_onset_error_hours", "median onset error (h)"),
        ("alerts_per_event", "alerts per detected event"),
    ):
        t.add_row(name, "—" if report[key] is None else f"{report[key]}")
    t.add_row(
        "target changes reported as blocks",
        f"{report['target_changes_reported_as_block']} of {report['target_changes']}",
    )
    throttles = report["labelled_by_kind"].get("throttling", 0)
    if throttles:
        t.add_row(
            "throttles reported as blocks",
            f"{report['throttles_reported_as_block']} of {throttles}",
        )
    per = report["unexplained_per_series_week"]
    t.add_row(
        "events no label explains",
        f"{report['unexplained_block_events']:,}"
        + ("" if per is None else f" ({per:.3f} per series-week of the whole period)"),
    )
    out.print(t)
    for reason, n in report["excluded_by_reason"].items():
        out.print(f"excluded: {n} label(s) {reason}")
    for m in report["misses"]:
        out.print(
            f"missed {m['event_id']} {m['probe_cc']} {m['service']} ({m['band']}): {m['title']}"
        )


def evaluate(
    labels: Annotated[
        Path,
        typer.Option(
            "--labels",
            help="Event labels in OONI's shape (labels.json of a "
            "generated world, or OONI's own event-label files).",
        ),
    ],
    db: DbOpt = None,
    stored: Annotated[
        bool,
        typer.Option(
            "--stored",
            help="Score the events `voipwatch events` stored instead of detecting afresh.",
        ),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Score the event detector against labelled events (OONI's protocol).

    A label is found when an event's onset lies within its onset bracket +/- 24 h;
    latency runs from the earliest onset; false alarms are counted per quiet
    series-week in the 14 days before each label; recall is given per size band;
    target changes must not be reported as blocks, nor throttles (scored as
    throttling events) as blocks. Labels without coverage or not
    scoreable are excluded and counted, not scored as misses.
    """
    from voipwatch.catalog import load as load_catalog
    from voipwatch.errors import InputError
    from voipwatch.events import load_labels, score
    from voipwatch.store import open_store

    try:
        label_set = load_labels(labels)
    except InputError as exc:
        problem(f"voipwatch evaluate: {exc}")
        raise typer.Exit(1) from None
    for message in label_set.malformed:
        problem(f"voipwatch evaluate: left out: {message}")
    if not label_set.labels:
        problem(f"voipwatch evaluate: {labels}: no event labels to score")
        raise typer.Exit(1)
    if db is not None and not db.expanduser().exists():
        problem(
            f"voipwatch evaluate: no store at {db}: ingest measurements into it first "
            "(voipwatch ingest PATH --db FILE)"
        )
        raise typer.Exit(1)
    with store_failures("evaluate"), open_store(db, read_only=stored) as store:
        networks, first, last = _coverage(store)
        if not networks:
            problem(
                f"voipwatch evaluate: the store {store.path} holds no measurements: "
                "ingest some first (voipwatch ingest PATH)"
            )
            raise typer.Exit(1)
        events = _events(store, stored)
    from datetime import UTC

    report = score(
        label_set.labels,
        events,
        catalog=load_catalog(),
        networks=networks,
        data_start=first.replace(tzinfo=UTC) if first is not None else None,
        data_end=last.replace(tzinfo=UTC) if last is not None else None,
    )
    result = report.to_dict()
    result["malformed"] = len(label_set.malformed)
    for note in report.notes:
        problem(f"voipwatch evaluate: {note}")
    if report.scored == [] and not report.target_changes:
        problem(
            "voipwatch evaluate: no label could be scored "
            f"({', '.join(f'{n} {r}' for r, n in result['excluded_by_reason'].items())})"
        )
    if json:
        write_line(encoder.encode(result))
    else:
        _table(result)
