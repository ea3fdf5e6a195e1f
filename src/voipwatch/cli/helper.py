"""``voipwatch helper serve``: the test-helper servers, run outside the censored network."""

from __future__ import annotations

from typing import Annotated

import typer

from voipwatch.cli.output import FAILED, USAGE
from voipwatch.console import err, problem

helper_app = typer.Typer(
    help="Test-helper servers to run outside the censored network.", no_args_is_help=True
)


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
        raise typer.Exit(USAGE) from None
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
        raise typer.Exit(USAGE) from None

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
        raise typer.Exit(FAILED) from None
