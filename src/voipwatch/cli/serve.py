"""``voipwatch serve``: the dashboard and the JSON API over a store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voipwatch.cli.options import DbOpt, store_failures
from voipwatch.console import problem

if TYPE_CHECKING:
    from voipwatch.alerts.webhook import WebhookSender
    from voipwatch.observatory import BatchOutcome, Fetcher, FetchSchedule, Worker

HostOpt = Annotated[
    str, typer.Option("--host", help="Address to listen on (loopback unless you mean to share).")
]
PortOpt = Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="VOIPWATCH_TOKEN",
        help="Operator token that allows annotating cases from the web (Authorization: "
        "Bearer TOKEN); without it the server never writes. Prefer the environment "
        "variable: a command line is visible to other users of the machine.",
        show_default=False,
    ),
]
CorsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cors-origin",
        help="An origin allowed to call the API from a browser (repeatable; none by default).",
        show_default=False,
    ),
]
AllowedHostOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allowed-host",
        help="A host name the server answers for (repeatable). Loopback names and the "
        "--host address are always allowed; any other Host header gets 421, which "
        "stops DNS-rebinding pages from reading the server.",
        show_default=False,
    ),
]
WarmOpt = Annotated[
    bool,
    typer.Option(
        "--warm/--no-warm",
        help="Compute the map's and every country page's charts in the background at start.",
    ),
]
SpoolOpt = Annotated[
    Path | None,
    typer.Option(
        "--collector-spool",
        help="Also be a collector (OONI's POST /report protocol, for voipwatch probe "
        "--upload): each accepted measurement is written durably to DIR/incoming/ "
        "before it is acknowledged (off by default).",
        show_default=False,
    ),
]
RateOpt = Annotated[
    int,
    typer.Option(
        "--collector-rate",
        min=1,
        help="Collector requests one address may make per minute (a probe run makes "
        "about three per measurement).",
        show_default=False,
    ),
]
WatchOpt = Annotated[
    Path | None,
    typer.Option(
        "--watch",
        help="Keep ingesting: files put into DIR/incoming/ (by an atomic rename) are "
        "ingested in batches while the server serves, then moved to DIR/done/ (or "
        "DIR/quarantine/ when nothing in them could be read). The server becomes the "
        "store's one writer; reading commands elsewhere read its last published batch.",
        file_okay=False,
        show_default=False,
    ),
]
PollOpt = Annotated[
    float,
    typer.Option("--poll", min=0.05, max=3600, help="Seconds between looks at --watch DIR."),
]
WebhookOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--webhook",
        help="An address (http or https) to POST new and ended blocking events to, as "
        "signed JSON, after each batch (repeatable; needs --watch and --webhook-secret-file).",
        show_default=False,
    ),
]
SecretOpt = Annotated[
    Path | None,
    typer.Option(
        "--webhook-secret-file",
        help="File holding the secret that signs webhook bodies (HMAC-SHA256, header "
        "X-Voipwatch-Signature: sha256=HEX).",
        dir_okay=False,
        show_default=False,
    ),
]
EveryOpt = Annotated[
    str | None,
    typer.Option(
        "--fetch-every",
        help="Also mirror OONI's latest measurements this often (e.g. 1h, 30m; at least "
        "5m) — today's and yesterday's files of --cc and --test — and ingest them "
        "(needs --watch: they go through its folder).",
        show_default=False,
    ),
]
CcOpt = Annotated[
    str | None,
    typer.Option(
        "--cc", help="Countries to fetch, e.g. IR,RU (default: every country).", show_default=False
    ),
]
TestOpt = Annotated[
    str | None,
    typer.Option(
        "--test", help="OONI tests to fetch (default: the messaging tests).", show_default=False
    ),
]
MirrorOpt = Annotated[
    Path | None,
    typer.Option(
        "--mirror",
        help="Where fetched files are kept (default: WATCH/mirror).",
        file_okay=False,
        show_default=False,
    ),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        help="S3-compatible endpoint to fetch from (default: OONI's bucket on AWS).",
        show_default=False,
    ),
]
BucketOpt = Annotated[
    str | None,
    typer.Option("--bucket", help="Bucket name (default: ooni-data-eu-fra).", show_default=False),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="A running Dask cluster (tcp://HOST:PORT) that reads and judges each batch; "
        "its workers must see the watched folder and the store's folder under the same paths.",
        show_default=False,
    ),
]
DemoOpt = Annotated[
    bool, typer.Option("--demo", help="Show the synthetic-data banner on every page.")
]


def serve(
    db: DbOpt = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    token: TokenOpt = None,
    cors_origin: CorsOpt = None,
    allowed_host: AllowedHostOpt = None,
    demo: DemoOpt = False,
    warm: WarmOpt = True,
    collector_spool: SpoolOpt = None,
    collector_rate: RateOpt = 600,
    watch: WatchOpt = None,
    poll: PollOpt = 5.0,
    webhook: WebhookOpt = None,
    webhook_secret_file: SecretOpt = None,
    fetch_every: EveryOpt = None,
    cc: CcOpt = None,
    test: TestOpt = None,
    mirror: MirrorOpt = None,
    endpoint: EndpointOpt = None,
    bucket: BucketOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Serve the dashboard and the JSON API (OpenAPI at /openapi.json) over a store.

    Read-only unless --token (or VOIPWATCH_TOKEN) is given; the token is never
    logged. With --watch, the server also ingests what arrives in a folder and
    recomputes the events after each batch. Stop with Ctrl-C.
    """
    if webhook and watch is None:
        problem("voipwatch serve: --webhook announces what --watch ingests; give --watch DIR")
        raise typer.Exit(2)
    if (fetch_every or scheduler) and watch is None:
        problem("voipwatch serve: --fetch-every and --scheduler work through --watch DIR")
        raise typer.Exit(2)
    fetching = None
    if fetch_every is not None:
        with store_failures("serve"):
            fetching = _fetch_plan(fetch_every, cc, test, mirror, watch, endpoint, bucket)
    if webhook and webhook_secret_file is None:
        problem("voipwatch serve: --webhook needs --webhook-secret-file to sign with")
        raise typer.Exit(2)
    secret = b""
    if webhook_secret_file is not None:
        try:
            secret = webhook_secret_file.read_bytes().strip()
        except OSError as exc:
            problem(f"voipwatch serve: {webhook_secret_file}: {exc.strerror or exc}")
            raise typer.Exit(2) from None
    serve_store(
        db,
        host=host,
        port=port,
        token=token,
        cors=cors_origin or [],
        demo=demo,
        warm=warm,
        allowed=allowed_host or [],
        collector_spool=collector_spool,
        collector_rate=collector_rate,
        watch=watch,
        poll=poll,
        webhooks=webhook or [],
        secret=secret,
        fetching=fetching,
        scheduler=scheduler,
    )


def _fetch_plan(
    every: str,
    cc: str | None,
    test: str | None,
    mirror: Path | None,
    watch: Path | None,
    endpoint: str | None,
    bucket: str | None,
) -> tuple[FetchSchedule, str]:
    """The schedule and the bucket's URL, from the options (usage errors raised here)."""
    from voipwatch.errors import FetchError, UsageError
    from voipwatch.fetch.bucket import bucket_url
    from voipwatch.fetch.layout import parse_countries, parse_tests
    from voipwatch.observatory import FetchSchedule, parse_every

    assert watch is not None
    try:
        url = bucket_url(endpoint, bucket)
    except FetchError as exc:
        raise UsageError(str(exc)) from exc
    folder = (mirror or watch / "mirror").expanduser()
    return FetchSchedule(parse_every(every), parse_countries(cc), parse_tests(test), folder), url


def serve_store(
    db: object,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    cors: list[str] | None = None,
    demo: bool = False,
    warm: bool = True,
    allowed: list[str] | None = None,
    collector_spool: Path | None = None,
    collector_rate: int = 600,
    watch: Path | None = None,
    poll: float = 5.0,
    webhooks: list[str] | None = None,
    secret: bytes = b"",
    fetching: tuple[FetchSchedule, str] | None = None,
    scheduler: str | None = None,
) -> None:
    """Open the store, print the URL and run the server until interrupted.

    With ``warm``, a background thread computes the answers the map and the country
    pages need while the server already answers (see :func:`voipwatch.web.charts.warm`).
    With ``watch``, a :class:`~voipwatch.observatory.Worker` owns the store and
    ingests that folder while the server serves; ``webhooks`` are told what it found;
    ``fetching`` (a schedule and a bucket URL) mirrors OONI's latest files into it.
    """
    import dataclasses

    import uvicorn

    from voipwatch.console import err
    from voipwatch.store import default_db_path
    from voipwatch.web.app import create_app
    from voipwatch.web.collector import COLLECTOR_BUDGET
    from voipwatch.web.guard import allowed_hosts

    path = Path(str(db)) if db is not None else default_db_path()
    worker: Worker | None = None
    sender: WebhookSender | None = None
    fetcher: Fetcher | None = None
    with store_failures("serve"):
        if watch is not None:
            worker, sender = _start_worker(path, watch, poll, webhooks or [], secret, scheduler)
        try:
            application = create_app(
                path,
                token=token or None,
                demo=demo,
                cors_origins=cors,
                hosts=allowed_hosts(host, allowed or ()),
                live=worker,
                collector_spool=collector_spool,
                collector_budget=dataclasses.replace(
                    COLLECTOR_BUDGET, requests_per_minute=collector_rate
                ),
            )
            if worker is not None and fetching is not None:
                fetcher = _fetcher(worker, *fetching)
        except BaseException:
            _stop_worker(worker, sender, fetcher)
            raise
    if worker is not None:
        from voipwatch.web.charts import Rewarmer

        database = application.state.db
        rewarm = Rewarmer(database)

        def follow(outcome: BatchOutcome) -> None:
            if outcome.snapshot is not None:
                database.follow(outcome.snapshot)
                if warm:
                    rewarm()
            if outcome.files:
                err.print(
                    f"voipwatch serve: {outcome.files} file(s): {outcome.new} new, "
                    f"{outcome.duplicate} duplicate, {outcome.quarantined} quarantined "
                    f"measurement(s); {outcome.files_quarantined} file(s) to quarantine; "
                    f"{len(outcome.new_events)} block(s) found, "
                    f"{len(outcome.ended_events)} ended",
                    markup=False,
                )

        # First in line: pages show a batch before anyone is told of it.
        worker.listeners.insert(0, follow)
        worker.start()
    if fetcher is not None:
        fetcher.start()
    shown = f"[{host}]" if ":" in host else host
    mode = "annotations enabled (token set)" if token else "read-only"
    if worker is not None:
        mode = f"ingesting {worker.spool.incoming}; " + (
            "annotations enabled (token set)" if token else "no annotations"
        )
    if collector_spool is not None:
        mode += f"; collecting uploads into {collector_spool}"
    err.print(f"voipwatch: serving {path} at http://{shown}:{port}/ ({mode}); Ctrl-C stops")
    if warm:
        import threading

        from voipwatch.web.charts import warm as warm_cache

        threading.Thread(
            target=warm_cache, args=(application.state.db,), name="warm", daemon=True
        ).start()
    try:
        uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)
    finally:
        _stop_worker(worker, sender, fetcher)


def _start_worker(
    path: Path, watch: Path, poll: float, webhooks: list[str], secret: bytes, scheduler: str | None
) -> tuple[Worker, WebhookSender | None]:
    """Open the store for writing and set up the worker (not started yet)."""
    from datetime import UTC, datetime

    from voipwatch.alerts.webhook import WebhookSender
    from voipwatch.events import load_known_changes
    from voipwatch.observatory import Spool, Worker, webhook_listener
    from voipwatch.store import open_store

    def now() -> datetime:
        return datetime.now(UTC)

    spool = Spool(watch.expanduser().resolve())
    spool.prepare()
    sender = WebhookSender(webhooks, secret) if webhooks else None
    store = open_store(path)
    try:
        worker = Worker(
            store,
            spool,
            clock=now,
            known_changes=load_known_changes(None),
            poll_seconds=poll,
            engine="dask" if scheduler else None,
            scheduler=scheduler,
        )
    except BaseException:
        store.close()
        if sender is not None:
            sender.close()
        raise
    if sender is not None:
        worker.listeners.append(webhook_listener(sender, now))
    return worker, sender


def _fetcher(worker: Worker, schedule: FetchSchedule, url: str) -> Fetcher:
    import httpx

    from voipwatch.errors import StoreError
    from voipwatch.fetch.bucket import Bucket
    from voipwatch.observatory import Fetcher

    try:
        schedule.mirror.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{schedule.mirror}: cannot create: {exc.strerror or exc}") from exc
    client = httpx.Client(
        timeout=httpx.Timeout(60.0, connect=10.0),
        follow_redirects=True,
        headers={"User-Agent": "voipwatch-fetch"},
    )
    return Fetcher(schedule, Bucket(url, client), worker.spool, clock=worker.clock)


def _stop_worker(
    worker: Worker | None, sender: WebhookSender | None, fetcher: Fetcher | None = None
) -> None:
    if fetcher is not None:
        fetcher.stop()
    if worker is not None:
        worker.stop()
        worker.store.close()
    if sender is not None:
        sender.close()
