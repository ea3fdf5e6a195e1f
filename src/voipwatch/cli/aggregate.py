"""``voipwatch aggregate``: counts shaped like OONI's /api/v1/aggregation."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from voipwatch.cli.options import DbOpt, encoder, store_failures
from voipwatch.console import write_line
from voipwatch.errors import UsageError

_AXES_HELP = (
    "measurement_start_day, probe_cc, probe_asn, test_name, input, domain; "
    "or per role verdict: service, role, plane, technique."
)


def aggregate(
    db: DbOpt = None,
    axis_x: Annotated[str | None, typer.Option("--axis-x", help=f"Axis: {_AXES_HELP}")] = None,
    axis_y: Annotated[str | None, typer.Option("--axis-y", help="Second axis.")] = None,
    time_grain: Annotated[
        str, typer.Option("--time-grain", help="hour, day, week, month, year or auto.")
    ] = "auto",
    since: Annotated[
        str | None, typer.Option("--since", help="From this date (YYYY-MM-DD), inclusive.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Up to this date (YYYY-MM-DD), exclusive.")
    ] = None,
    probe_cc: Annotated[str | None, typer.Option("--probe-cc", help="CC[,CC...]")] = None,
    probe_asn: Annotated[
        str | None, typer.Option("--probe-asn", help="ASN[,ASN...], with or without AS.")
    ] = None,
    test_name: Annotated[str | None, typer.Option("--test-name", help="T[,T...]")] = None,
    input: Annotated[str | None, typer.Option("--input", help="Exact input (URL).")] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="D[,D...] of inputs.")] = None,
    service: Annotated[str | None, typer.Option("--service", help="S[,S...]")] = None,
    role: Annotated[str | None, typer.Option("--role", help="R[,R...]")] = None,
    plane: Annotated[
        str | None, typer.Option("--plane", help="signalling, media, web (comma list).")
    ] = None,
    technique: Annotated[
        str | None,
        typer.Option("--technique", help="T[,T...]; 'dns' also matches dns.nxdomain etc."),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
) -> None:
    """Counts shaped like OONI's /api/v1/aggregation.

    JSON: {"v": 0, "dimension_count": N, "db_stats": {...}, "result": ...}, where
    result is one object without an axis and a list of objects (ordered by the axes)
    with one. Each object holds anomaly_count, confirmed_count, failure_count,
    ok_count (mutually exclusive, summing to measurement_count) and
    measurement_count, plus the axis values. measurement_start_day is YYYY-MM-DD
    (YYYY-MM-DDThh:mm:ssZ for the hour grain; weeks start on Sunday as in OONI);
    probe_asn is an int. Measurements whose test voipwatch does not judge (status
    "unsupported") are not counted.

    With --service, --role, --plane or --technique, as an axis or a filter, rows
    count role verdicts instead (one per measurement and service role): ok_count,
    blocked_count, partial_count, degraded_count, down_count, failure_count and
    unknown_count sum to verdict_count; measurement_count is the number of distinct
    measurements behind them.

    CSV: a header row, then one row per result object. Time grains follow OONI's
    limits: hour only for ranges up to 7 days, year only beyond 365 days; without
    --since/--until the range is that of the matching measurements in the store.
    """
    from voipwatch.store import aggregate as run_aggregate
    from voipwatch.store import open_store, parse_query, to_csv

    with store_failures("aggregate"):
        fmt = format.lower()
        if fmt not in ("json", "csv"):
            raise UsageError(f"--format: {format!r} is not json or csv")
        query = parse_query(
            axis_x=axis_x,
            axis_y=axis_y,
            time_grain=time_grain,
            since=since,
            until=until,
            probe_cc=probe_cc,
            probe_asn=probe_asn,
            test_name=test_name,
            input=input,
            domain=domain,
            service=service,
            role=role,
            plane=plane,
            technique=technique,
        )
        with open_store(db, read_only=True) as store:
            response = run_aggregate(store.con, query)
    if fmt == "csv":
        sys.stdout.write(to_csv(response, query))
    else:
        write_line(encoder.encode(response))
