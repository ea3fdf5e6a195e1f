"""The voipwatch command line (see DESIGN.md, "Command line").

Every command is thin: it parses options, calls the room that does the work, and
prints. Data goes to stdout (JSONL with ``--json``), progress and problems to stderr.
Exit status: 0 when the run finished (even with bad records, which are reported and
counted), 1 when no input could be read at all, 2 for usage errors.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from voipwatch import __version__
from voipwatch.cli import (
    cases,
    context,
    cost,
    data,
    demo,
    evaluate,
    events,
    fetch,
    generate,
    locate,
    probe,
    report,
    serve,
    verify_bundle,
)
from voipwatch.cli.options import (
    DbOpt,
    JsonOpt,
    PathsArg,
    WorkersOpt,
    counts_table,
    encoder,
    said,
    store_failures,
)
from voipwatch.console import Problems, err, out, problem, write_line
from voipwatch.untrusted import terminal_text

app = typer.Typer(
    name="voipwatch",
    help="An open observatory for the blocking of VoIP and messaging apps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"voipwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """voipwatch: measure, judge, detect and document the blocking of calls and messaging."""


@app.command()
def verdicts(paths: PathsArg, json: JsonOpt = False) -> None:
    """Judge measurement files: one verdict per measurement, in input order.

    Without --json, one line per measurement: uid, test, country, network, status and
    the roles that are not ok, each technique marked "suspected" unless a control or a
    censor's fingerprint confirmed it. Output is streamed, so any input size runs in
    constant memory.
    """
    import os
    import sys

    from voipwatch.console import progress
    from voipwatch.errors import FingerprintTableError, InputError
    from voipwatch.ooni.reader import Problem, read_paths
    from voipwatch.verdicts import judge
    from voipwatch.via import judge_via_bytes, verdict_object

    read = bad = 0
    shown = Problems()
    try:
        with progress() as bar:
            task = bar.add_task("judging", total=None, detail="")
            for item in read_paths(paths):
                if isinstance(item, Problem):
                    bad += 1
                    shown(str(item))
                    continue
                try:
                    j = judge(item)
                except InputError as exc:
                    bad += 1
                    shown(str(exc))
                    continue
                except FingerprintTableError as exc:
                    # Every verdict needs the table: stop at once rather than once per line.
                    problem(f"voipwatch verdicts: {exc}")
                    raise typer.Exit(1) from None
                except Exception as exc:  # a rule tripped on odd input: report, go on
                    bad += 1
                    where = f"{item.source}:{item.line}" if item.line else item.source
                    shown(
                        f"{where}: could not judge ({exc.__class__.__name__}: {exc}); "
                        "this is a voipwatch bug, please report it"
                    )
                    continue
                read += 1
                if read % 1000 == 0:
                    bar.update(task, completed=read, detail=item.source)
                v = j.verdict
                if json:
                    # A measurement made through a tool: its via outcomes beside it.
                    write_line(encoder.encode(verdict_object(v, judge_via_bytes(item.raw, v))))
                else:
                    roles = ", ".join(
                        f"{s.role} {s.status}"
                        + (
                            f" ({'' if s.confirmed else 'suspected '}{s.technique})"
                            if s.technique
                            else ""
                        )
                        for s in v.services
                        if s.status != "ok"
                    )
                    line = f"{v.measurement_uid}  {v.test_name}  {v.probe_cc}  {v.probe_asn}"
                    write_line(terminal_text(f"{line}  {v.status}  {roles}".rstrip()).encode())
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    shown.summarise()
    err.print(f"{read} measurements judged, {bad} problems", markup=False)
    if read == 0:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------
# Store commands (ingest, rejudge, aggregate, export) live below this line.
# ---------------------------------------------------------------------------------------


@app.command()
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
    from voipwatch.console import progress
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
    counts = stats.as_dict()
    if json:
        write_line(encoder.encode({"db": str(store.path), **counts}))
    else:
        keys = ["files", "read", "new", "duplicate", "quarantined"]
        counts_table(f"ingested into {store.path}", counts, keys)
        if stats.missing:
            err.print(f"{stats.missing} path(s) not found", markup=False)
    if stats.new + stats.duplicate == 0:
        raise typer.Exit(1)


@app.command()
def rejudge(db: DbOpt = None, json: JsonOpt = False) -> None:
    """Judge every stored measurement again with the current rules.

    Verdicts and observations are recomputed from the stored raw measurements and
    replaced where they changed. Safe to interrupt and re-run; a second run changes
    nothing.
    """
    from voipwatch.console import progress
    from voipwatch.store import open_store
    from voipwatch.store import rejudge as run_rejudge

    shown = Problems()
    with store_failures("rejudge"), open_store(db) as store, progress() as bar:
        task = bar.add_task("rejudge", total=None, detail="")

        def on_progress(done: int, total: int) -> None:
            bar.update(task, total=total, completed=done)

        stats = run_rejudge(store, on_problem=shown, on_progress=on_progress)
    shown.summarise()
    counts = stats.as_dict()
    if json:
        write_line(encoder.encode({"db": str(store.path), **counts}))
    else:
        keys = ["measurements", "changed", "restamped", "failed", "rules_version"]
        counts_table(f"rejudged {store.path}", counts, keys)


_AXES_HELP = (
    "measurement_start_day, probe_cc, probe_asn, test_name, input, domain; "
    "or per role verdict: service, role, plane, technique."
)


@app.command()
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
    from voipwatch.errors import UsageError
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


@app.command()
def export(
    tier: Annotated[
        str,
        typer.Option("--tier", help="measurements, verdicts, observations or quarantine."),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Parquet file to write.")],
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Export one tier of the store to a Parquet file, in key order.

    Measurements keep their raw bytes zstd-compressed in the raw_zstd column.
    """
    from voipwatch.errors import UsageError
    from voipwatch.store import TIERS, export_tier, open_store

    with store_failures("export"):
        if tier not in TIERS:
            raise UsageError(f"--tier: {tier!r} is not one of {', '.join(TIERS)}")
        with open_store(db, read_only=True) as store:
            rows = export_tier(store, tier, out_file)
    if json:
        write_line(encoder.encode({"tier": tier, "rows": rows, "out": str(out_file)}))
    else:
        err.print(f"{rows:,} {tier} rows written to {out_file}", markup=False)


# ---------------------------------------------------------------------------------------
# Probe commands (helper; probe and upload are in cli/probe.py) live below this line.
# ---------------------------------------------------------------------------------------


helper_app = typer.Typer(
    help="Test-helper servers to run outside the censored network.", no_args_is_help=True
)
app.add_typer(helper_app, name="helper")


@helper_app.command("serve")
def helper_serve(
    listen: Annotated[
        str,
        typer.Option(
            "--listen", help="Address to listen on (HOST, or HOST:PORT for the control helper)."
        ),
    ] = "127.0.0.1",
    ports: Annotated[
        str,
        typer.Option(
            "--ports",
            help="UDP ports for STUN/TURN, echo and RTP, e.g. 3478,5004,8801-8810 "
            "(default: 3478, the catalogue's call-plane ports, 5004, 42424-42426).",
            show_default=False,
        ),
    ] = "",
    control_port: Annotated[
        int, typer.Option("--control-port", help="Control helper's HTTP port (0: off).")
    ] = 8080,
    tls_port: Annotated[int, typer.Option("--tls-port", help="TLS download server.")] = 443,
    sip_port: Annotated[int, typer.Option("--sip-port", help="SIP over UDP/TCP (0: off).")] = 5060,
    sips_port: Annotated[int, typer.Option("--sips-port", help="SIP over TLS (0: off).")] = 5061,
    cert_file: Annotated[
        str, typer.Option("--cert-file", help="TLS certificate (PEM; default: self-signed).")
    ] = "",
    key_file: Annotated[str, typer.Option("--key-file", help="Its private key (PEM).")] = "",
    ca_file: Annotated[
        str, typer.Option("--ca-file", help="Extra CA bundle to trust for TLS checks.")
    ] = "",
    allow_range: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-range",
            help="A network (CIDR) the control helper may test besides the catalogue's "
            "public endpoints, e.g. your own lab (repeatable). Loopback, private, "
            "link-local and multicast addresses are refused unless allowed here.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the test helpers until interrupted: STUN/TURN and UDP echo (never amplifying),
    SIP OPTIONS, the RTP reflector, the TLS download server, and the control helper."""
    from voipwatch.helper import serve as helper
    from voipwatch.helper.targets import parse_ranges
    from voipwatch.probe.tcp import split_hostport

    host, port = split_hostport(listen, control_port)
    try:
        allowed = parse_ranges(allow_range or [])
    except ValueError as exc:
        problem(f"voipwatch helper serve: --allow-range: {exc}")
        raise typer.Exit(2) from None
    s = helper.Settings(
        host=host,
        control_port=port,
        tls_port=tls_port,
        sip_port=sip_port,
        sips_port=sips_port,
        cert_file=cert_file,
        key_file=key_file,
        ca_file=ca_file,
        allow_ranges=allowed,
    )
    try:
        if ports:
            s.udp_ports = helper.parse_ports(ports)
    except ValueError as exc:
        problem(f"voipwatch helper serve: --ports: {exc}")
        raise typer.Exit(2) from None

    def ready(r: helper.Running) -> None:
        err.print(
            f"test helpers on {host}: UDP {len(r.udp)} ports, TLS {tls_port}, "
            f"SIP {sip_port}/{sips_port}, control {port or 'off'}",
            markup=False,
        )

    try:
        helper.serve(s, on_ready=ready)
    except OSError as exc:
        problem(f"voipwatch helper serve: {exc.strerror or exc}")
        raise typer.Exit(1) from None


# ---------------------------------------------------------------------------------------
# Simulator commands (simulate) live below this line.
# ---------------------------------------------------------------------------------------


@app.command()
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
    from voipwatch.errors import VoipwatchError
    from voipwatch.sim.runner import simulate as run

    try:
        status = run(scenarios, json=json, keep_going=keep_going)
    except KeyboardInterrupt:
        problem("voipwatch simulate: interrupted; the simulated world was torn down")
        raise typer.Exit(130) from None
    except VoipwatchError as exc:
        problem(f"voipwatch simulate: {said(exc)}")
        raise typer.Exit(1) from None
    except BrokenPipeError:
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    raise typer.Exit(status)


# Verbs that live in their own module under voipwatch/cli/ join the app here.
cases.register(app)
context.register(app)
cost.register(app)
data.register(app)
demo.register(app)
evaluate.register(app)
events.register(app)
fetch.register(app)
generate.register(app)
locate.register(app)
probe.register(app)
report.register(app)
serve.register(app)
verify_bundle.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
