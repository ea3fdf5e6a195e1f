"""``voipwatch cases import|list|show|annotate|export``: the documented-case registry."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from voipwatch.cli.options import DbOpt, JsonOpt, counts_table, encoder, store_failures
from voipwatch.console import Problems, err, problem, show_line, write_line
from voipwatch.report.charts.base import money

if TYPE_CHECKING:
    from voipwatch.cases.model import Case
    from voipwatch.cost import CostEstimate
    from voipwatch.store import Store
    from voipwatch.views import CaseDossier, Tier

cases_app = typer.Typer(
    help="Documented cases (OONI incidents, Access Now STOP, CenAlert): import, review, "
    "annotate and export them, with the detected events that match them and their cost.",
    no_args_is_help=True,
)


def _day(value: str | None, option: str) -> date | None:
    from voipwatch.errors import UsageError

    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


@cases_app.command("import")
def import_(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files: OONI incidents (JSON/CSV), a STOP sheet (CSV), a CenAlert "
            "list (CSV) or a voipwatch export (JSON lines)."
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option("--source", help="ooni, stop, cenalert or voipwatch (default: detected)."),
    ] = None,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Import documented cases; records of several sources about one block merge.

    Each file is one transaction: a file with a bad record (unknown country, malformed
    row, a date in the future) is reported line by line and nothing of it is written.
    Importing a newer copy of a source updates its records in place.
    """
    from voipwatch.cases.registry import import_cases
    from voipwatch.errors import InputError
    from voipwatch.store import open_store

    failed = 0
    with store_failures("cases import"), open_store(db) as store:
        for path in paths:
            shown = Problems()
            try:
                stats = import_cases(store, path, source, on_problem=shown)
            except InputError as exc:
                shown.summarise()
                problem(f"voipwatch cases import: {exc}")
                failed += 1
                continue
            if json:
                write_line(encoder.encode(stats.as_dict()))
                continue
            counts = {
                "rows": stats.rows,
                "records": stats.records,
                "new": stats.new,
                "updated": stats.updated,
                "left out": sum(stats.skipped.values()),
                "cases": stats.cases_after,
                "multi-source": stats.merged,
                "events matched": stats.events_matched,
            }
            counts_table(f"{path} ({stats.source})", dict(counts), list(counts))
            for why, n in sorted({**stats.skipped, **stats.repaired}.items()):
                err.print(f"  {n:,} {why}", markup=False)
    if failed:
        raise typer.Exit(1)


def _short(case: Case) -> str:
    return ",".join(case.apps) or {
        "full_shutdown": "(all: shutdown)",
        "platform_ban": "(a platform banned)",
        "voip_only": "(all calls)",
        "service_block": "(messaging apps, unnamed)",
    }.get(case.kind, "(all)")


@cases_app.command("list")
def list_(
    db: DbOpt = None,
    country: Annotated[
        str | None, typer.Option("--country", help="Country (code or name).")
    ] = None,
    app: Annotated[str | None, typer.Option("--app", help="App (catalogue id or name).")] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="service_block, voip_only, throttling, full_shutdown or platform_ban.",
        ),
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help="Review status.")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Documented by this source.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="In force on or after (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Began on or before (YYYY-MM-DD).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """List cases, oldest first: country, apps, kind, dates, sources and matched events."""
    from voipwatch.cases.export import case_dict
    from voipwatch.cases.model import KINDS, STATUSES
    from voipwatch.cases.registry import list_cases
    from voipwatch.errors import UsageError
    from voipwatch.store import open_store

    with store_failures("cases list"):
        if kind and kind not in KINDS:
            raise UsageError(f"--kind: {kind!r} is not one of {', '.join(KINDS)}")
        if status and status not in STATUSES:
            raise UsageError(f"--status: {status!r} is not one of {', '.join(STATUSES)}")
        with open_store(db, read_only=True) as store:
            found = list_cases(
                store,
                country=country,
                app=app,
                kind=kind,
                status=status,
                source=source,
                since=_day(since, "--since"),
                until=_day(until, "--until"),
            )
    if json:
        for c in found:
            write_line(encoder.encode(case_dict(c)))
        return
    # One plain line per case, like `voipwatch verdicts`: readable at any width, greppable.
    for c in found:
        end = c.end.isoformat() if c.end else c.end_status
        srcs = ",".join(dict.fromkeys(s.source for s in c.sources))
        title = (c.title or c.sources[0].services_stated)[:70]
        show_line(
            f"{c.case_id}  {c.country}  {_short(c)}  {c.kind}  {c.start}→{end}  {srcs}  "
            f"{len(c.events)} events  {c.status}  {title}"
        )
    err.print(f"{len(found):,} cases", markup=False)


def _details(store: Store, cases: list[Case]) -> list[dict[str, Any]]:
    """Each case as exported, from its dossier; the events are read and matched once
    for all the cases."""
    from voipwatch.views import read_case_dossiers

    return [_detail(d) for d in read_case_dossiers(store, cases)]


def _detail(d: CaseDossier) -> dict[str, Any]:
    """A case as exported: with its matched events (their measurements, their cost)
    and its own cost."""
    from voipwatch.cases.export import case_dict, event_summary

    events = [
        event_summary(e, d.reasons[e.event_id], _priced(d.prices[e.event_id])) for e in d.events
    ]
    return case_dict(d.case, cost=d.cost, events=events)


def _priced(tier: Tier[CostEstimate]) -> dict[str, object]:
    """An event's price as the case's JSON says it: the estimate, or why there is none."""
    if tier.value is None:
        return {"available": False, "reason": tier.why or ""}
    return {**tier.value.to_dict(), "available": True}


@cases_app.command("show")
def show(
    case_id: Annotated[str, typer.Argument(help="Case id (from `voipwatch cases list`).")],
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """One case: its documentation (every source), matched events and cost."""
    import msgspec

    from voipwatch.cases.registry import get_case
    from voipwatch.errors import UsageError
    from voipwatch.store import open_store
    from voipwatch.views import read_case_dossiers

    with store_failures("cases show"), open_store(db, read_only=True) as store:
        case = get_case(store, case_id)
        if case is None:
            raise UsageError(f"no case {case_id!r} (see `voipwatch cases list`)")
        (dossier,) = read_case_dossiers(store, [case])
    d = _detail(dossier)
    context = dossier.context.value
    if context is not None:
        d["legal_context"] = msgspec.to_builtins(context)
    if json:
        write_line(encoder.encode(d))
        return

    p = show_line

    end = case.end.isoformat() if case.end else case.end_status
    p(
        f"{case.case_id}  {case.country}{' / ' + case.region if case.region else ''}  "
        f"{case.kind}  {_short(case)}"
    )
    p(
        f"  {case.start} ({case.start_precision}) → {end}"
        + (f" ({case.end_precision})" if case.end else "")
    )
    for label, value in (
        ("title", case.title),
        ("cause", case.cause),
        ("legal basis", case.legal_basis),
        ("status", case.status),
        ("networks", " ".join(f"AS{a}" for a in case.networks)),
        ("operators", ", ".join(case.operators)),
        ("other services", ", ".join(case.other_services)),
    ):
        if value:
            p(f"  {label}: {value}")
    p(f"  sources ({len(case.sources)}):")
    for s in case.sources:
        who = ", ".join(s.reported_by)
        p(f"    {s.source} {s.record_id}  {s.start} {s.services_stated[:60]}  ({who})")
        for link in s.links[:3]:
            p(f"      {link}")
    events = d.get("event_details") or []
    p(f"  detected events ({len(events)}):")
    for e in events:
        p(
            f"    {e['event_id']}  {e['service']} {' '.join(e['techniques'])}  {e['start']} → "
            f"{e['end'] or 'ongoing'}  {e['measurements']} measurements, confidence "
            f"{e['confidence']:.2f}"
        )
    for a in case.annotations:
        p(
            f"  note {a.at:%Y-%m-%d %H:%M}: {a.note} {a.status or ''} {a.legal_basis} "
            f"{' '.join(a.links)}".rstrip()
        )
    if context is not None:
        p(f"  legal context (voipwatch context {case.country}):")
        for label, st in (
            ("regulator", context.regulator),
            ("VoIP licensing", context.voip_licensing),
        ):
            if st is not None:
                p(f"    {label}: {st.value}")
        for law in context.laws_cited:
            p(f"    law cited: {law.value}")
    cost = d.get("cost") or {}
    if cost.get("available"):
        p(
            f"  cost: {money(cost['low'], '')} / {money(cost['central'], '')} / "
            f"{money(cost['high'], '')} {cost['currency']} (low / central / high); "
            f"full-shutdown upper bound {money(cost['upper_bound_full_shutdown'], '')}"
        )
        if cost.get("case_kind_reason"):
            p(f"    priced as: {cost['case_kind_reason']}")
        for flag in cost.get("flags") or []:
            p(f"    {flag}")
    else:
        p(f"  cost: none ({cost.get('reason', '')})")


@cases_app.command("annotate")
def annotate(
    case_id: Annotated[str, typer.Argument(help="Case id.")],
    note: Annotated[str | None, typer.Option("--note", help="A note.")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="unreviewed, confirmed, disputed or rejected."),
    ] = None,
    legal_basis: Annotated[
        str | None, typer.Option("--legal-basis", help="The law or order cited for the block.")
    ] = None,
    link: Annotated[
        list[str] | None, typer.Option("--link", help="A link (repeat for several).")
    ] = None,
    author: Annotated[str, typer.Option("--author", help="Who adds this.")] = "",
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Add a note, a review status, the legal basis or links to a case."""
    from voipwatch.cases.export import case_dict
    from voipwatch.cases.registry import annotate_case
    from voipwatch.store import open_store

    with store_failures("cases annotate"), open_store(db) as store:
        case = annotate_case(
            store,
            case_id,
            note=note,
            status=status,
            legal_basis=legal_basis,
            links=link,
            author=author,
        )
    if json:
        write_line(encoder.encode(case_dict(case)))
    else:
        err.print(
            f"{case_id}: {len(case.annotations)} annotation(s), status {case.status}", markup=False
        )


@cases_app.command("export")
def export(
    format: Annotated[str, typer.Option("--format", help="json (JSON lines) or csv.")] = "json",
    table: Annotated[
        str,
        typer.Option("--table", help="CSV only: cases, sources, annotations or events."),
    ] = "cases",
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out", help="File to write, in a folder that exists (default, or -: stdout)."
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Export every case with its sources, annotations, matched events and cost.

    JSON lines hold everything and can be imported again (`cases import`); CSV is one
    table at a time.
    """
    from voipwatch.cases import export as ex
    from voipwatch.cases.registry import list_cases
    from voipwatch.cli.outfile import check_target, is_stdout, write_target
    from voipwatch.errors import UsageError
    from voipwatch.store import open_store

    with store_failures("cases export"):
        if out_file is not None and not is_stdout(out_file):
            check_target(out_file)
        if format not in ("json", "csv"):
            raise UsageError(f"--format: {format!r} is not json or csv")
        if table not in ex.TABLES:
            raise UsageError(f"--table: {table!r} is not one of {', '.join(ex.TABLES)}")
        with open_store(db, read_only=True) as store:
            found = list_cases(store)
            details = list(zip(found, _details(store, found), strict=True))
    if format == "json":
        text = "".join(encoder.encode(d).decode() + "\n" for _, d in details)
    elif table == "cases":
        text = ex.to_csv(ex.CASE_COLUMNS, (ex.case_row(c, d.get("cost")) for c, d in details))
    elif table == "sources":
        text = ex.to_csv(ex.SOURCE_COLUMNS, (r for c, _ in details for r in ex.source_rows(c)))
    elif table == "annotations":
        text = ex.to_csv(
            ex.ANNOTATION_COLUMNS, (r for c, _ in details for r in ex.annotation_rows(c))
        )
    else:
        text = ex.to_csv(
            ex.EVENT_COLUMNS,
            (r for c, d in details for r in ex.event_rows(c.case_id, d.get("event_details", []))),
        )
    if out_file is None or is_stdout(out_file):
        sys.stdout.write(text)
        return
    with store_failures("cases export"):
        write_target(out_file, text.encode("utf-8"))
    err.print(f"{len(details):,} cases written to {out_file}", markup=False)
