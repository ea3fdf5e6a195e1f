"""``voipwatch serve``: the dashboard and the JSON API over a store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voipwatch.commands.options import DbOpt, store_failures

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
    ),
]
DemoOpt = Annotated[
    bool, typer.Option("--demo", help="Show the synthetic-data banner on every page.")
]


def register(app: typer.Typer) -> None:
    @app.command()
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
    ) -> None:
        """Serve the dashboard and the JSON API (OpenAPI at /openapi.json) over a store.

        Read-only unless --token (or VOIPWATCH_TOKEN) is given; the token is never
        logged. Stop with Ctrl-C.
        """
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
        )


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
) -> None:
    """Open the store, print the URL and run the server until interrupted.

    With ``warm``, a background thread computes the answers the map and the country
    pages need while the server already answers (see :func:`voipwatch.web.charts.warm`).
    """
    import dataclasses

    import uvicorn

    from voipwatch.console import err
    from voipwatch.store import default_db_path
    from voipwatch.web.app import create_app
    from voipwatch.web.collector import COLLECTOR_BUDGET
    from voipwatch.web.guard import allowed_hosts

    path = Path(str(db)) if db is not None else default_db_path()
    with store_failures("serve"):
        application = create_app(
            path,
            token=token or None,
            demo=demo,
            cors_origins=cors,
            hosts=allowed_hosts(host, allowed or ()),
            collector_spool=collector_spool,
            collector_budget=dataclasses.replace(
                COLLECTOR_BUDGET, requests_per_minute=collector_rate
            ),
        )
    shown = f"[{host}]" if ":" in host else host
    mode = "annotations enabled (token set)" if token else "read-only"
    if collector_spool is not None:
        mode += f"; collecting uploads into {collector_spool}"
    err.print(f"voipwatch: serving {path} at http://{shown}:{port}/ ({mode}); Ctrl-C stops")
    if warm:
        import threading

        from voipwatch.web.charts import warm as warm_cache

        threading.Thread(
            target=warm_cache, args=(application.state.db,), name="warm", daemon=True
        ).start()
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)
