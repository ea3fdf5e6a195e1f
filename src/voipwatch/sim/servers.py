"""The simulated servers: nginx configurations and a supervisor for every process.

Each server runs in its own session (its own process group) so that the terminal's
Ctrl-C reaches only the simulator, which then stops the servers in order, and so
that stopping a server also stops its children (nginx workers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from voipwatch.sim import netns
from voipwatch.sim.errors import SimulationError

Listen = tuple[str, str, int]  # (tcp|udp, address, port)

PAGE = "voipwatch simulated server\\n"


@dataclass
class Server:
    """One server process inside a namespace."""

    name: str
    ns: str
    argv: list[str]
    log: Path
    listens: list[Listen] = field(default_factory=list)
    ready_text: str = ""  # a line the server logs once it is ready (for raw sockets)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            try:
                self.proc = subprocess.Popen(
                    ["ip", "netns", "exec", self.ns, *self.argv],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except FileNotFoundError:
                raise SimulationError(
                    "ip is not installed: run scripts/install-system-deps"
                ) from None

    def logged(self, text: str) -> bool:
        try:
            return text in self.log.read_text(errors="replace")
        except OSError:
            return False

    def failure(self) -> str:
        """The last line the server logged, to say why it died."""
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            lines = []
        return lines[-1].strip() if lines else "no log output"

    def stop(self, grace: float = 3.0) -> None:
        """Stop the server and everything it started, and reap it."""
        proc = self.proc
        if proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; its children (nginx workers) share its group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            break
        self.proc = None


def listening(ns: str) -> set[Listen]:
    """The TCP and UDP sockets listening in a namespace."""
    proc = netns.run(["ss", "-Hlntu"], ns=ns, check=False)
    found: set[Listen] = set()
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        addr, _, port = parts[4].rpartition(":")
        if port.isdigit():
            found.add((parts[0], addr.strip("[]"), int(port)))
    return found


def wait_ready(servers: Sequence[Server], timeout: float = 15.0) -> None:
    """Wait until every server listens where it should; a dead server is an error."""
    deadline = time.monotonic() + timeout
    by_ns: dict[str, list[Server]] = {}
    for s in servers:
        by_ns.setdefault(s.ns, []).append(s)
    pending = dict(by_ns)
    while pending:
        for ns, group in list(pending.items()):
            for s in group:
                if s.proc is not None and s.proc.poll() is not None:
                    raise SimulationError(f"{s.name} exited at start: {s.failure()}")
            have = listening(ns)
            missing = [(s, lis) for s in group for lis in s.listens if lis not in have]
            silent = [s for s in group if s.ready_text and not s.logged(s.ready_text)]
            if not missing and not silent:
                del pending[ns]
            elif time.monotonic() > deadline:
                if silent:
                    s = silent[0]
                    raise SimulationError(
                        f"{s.name} is not ready after {timeout:g} s: {s.failure()}"
                    )
                s, (proto, addr, port) = missing[0]
                raise SimulationError(
                    f"{s.name} does not listen on {proto} {addr}:{port} after {timeout:g} s: "
                    f"{s.failure()}"
                )
        if pending:
            time.sleep(0.05)


def nginx_conf(
    name: str,
    workdir: Path,
    *,
    tls: Iterable[str],
    http: Iterable[str],
    plain_on_443: Iterable[str],
    cert: Path,
    key: Path,
    download: Path | None = None,
) -> str:
    """nginx answering 200 to any path and method: TLS 443 (any SNI), HTTP 80, plain 443.

    With ``download``, TLS also serves that file at ``/download`` (any query string:
    the throughput checks of the world).
    """
    tls, http, plain = sorted(tls), sorted(http), sorted(plain_on_443)
    tmp = workdir / f"nginx-{name}-tmp"
    tmp.mkdir(exist_ok=True)
    temps = "\n".join(
        f"  {k}_temp_path {tmp / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    location = f'    location / {{ return 200 "{PAGE}"; }}'
    servers = []
    if tls:
        servers.append(
            "\n".join(
                [
                    "  server {",
                    *(f"    listen {a}:443 ssl;" for a in tls),
                    "    server_name _;",
                    f"    ssl_certificate {cert};",
                    f"    ssl_certificate_key {key};",
                    "    ssl_protocols TLSv1.2 TLSv1.3;",
                    *(
                        [
                            "    location = /download {",
                            f"      alias {download};",
                            "      default_type application/octet-stream;",
                            "    }",
                        ]
                        if download
                        else []
                    ),
                    location,
                    "  }",
                ]
            )
        )
    if http or plain:
        servers.append(
            "\n".join(
                [
                    "  server {",
                    *(f"    listen {a}:80;" for a in http),
                    *(f"    listen {a}:443;" for a in plain),
                    "    server_name _;",
                    location,
                    "  }",
                ]
            )
        )
    return "\n".join(
        [
            "daemon off;",
            "master_process on;",
            "worker_processes 1;",
            "user root;",
            f"pid {workdir / f'nginx-{name}.pid'};",
            f"error_log {workdir / f'nginx-{name}.log'} warn;",
            "events { worker_connections 1024; }",
            "http {",
            "  access_log off;",
            "  default_type text/plain;",
            temps,
            *servers,
            "}",
            "",
        ]
    )


def nginx_server(name: str, ns: str, workdir: Path, conf: str, listens: list[Listen]) -> Server:
    path = workdir / f"nginx-{name}.conf"
    path.write_text(conf)
    argv = ["nginx", "-c", str(path), "-p", f"{workdir}/", "-e", str(workdir / f"nginx-{name}.log")]
    return Server(f"nginx ({name})", ns, argv, workdir / f"nginx-{name}.out", listens)


def unbound_server(name: str, ns: str, workdir: Path, conf: str, listens: list[Listen]) -> Server:
    path = workdir / f"unbound-{name}.conf"
    path.write_text(conf)
    argv = ["unbound", "-d", "-p", "-c", str(path)]
    return Server(f"unbound ({name})", ns, argv, workdir / f"unbound-{name}.out", listens)


def python_server(
    name: str, ns: str, workdir: Path, argv: list[str], listens: list[Listen]
) -> Server:
    return Server(name, ns, [sys.executable, *argv], workdir / f"{name}.out", listens)


def coturn_server(
    ns: str, workdir: Path, port: int, addresses: Sequence[str], relay_ports: tuple[int, int]
) -> Server:
    """coturn answering STUN (and unauthenticated TURN) on UDP ``port`` of ``addresses``.

    UDP only (``--no-tcp``: TLS and HTTP stay nginx's); with two addresses or more it
    also listens on ``port + 1`` (RFC 5780's alternative port).
    """
    name = f"coturn-{port}"
    argv = [
        "turnserver", "-n", "--listening-port", str(port),
        *(x for a in addresses for x in ("-L", a)),
        "--no-tcp", "--no-tls", "--no-dtls", "--no-cli", "-z", "-r", "voipwatch.test",
        "--min-port", str(relay_ports[0]), "--max-port", str(relay_ports[1]),
        "--log-file", "stdout", "--simple-log",
        "--pidfile", str(workdir / f"{name}.pid"), "--userdb", str(workdir / f"{name}.db"),
    ]  # fmt: skip
    return Server(name, ns, argv, workdir / f"{name}.out", [("udp", a, port) for a in addresses])


#: kamailio's TLS module (Debian's kamailio-tls-modules); without it, SIP over TLS is
#: left out of the world (a warning), not an error.
KAMAILIO_TLS_MODULE = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so")


def kamailio_has_tls() -> bool:
    return KAMAILIO_TLS_MODULE.exists()


def kamailio_conf(
    address: str, port: int = 5060, *, tls_port: int = 0, tls_cfg: Path | None = None
) -> str:
    """kamailio answering OPTIONS with 200 (and anything else with 405) on UDP and TCP,
    and over TLS on ``tls_port`` when given (``tls_cfg``: the TLS module's settings)."""
    tls = bool(tls_port and tls_cfg)
    return "\n".join(
        [
            "#!KAMAILIO",
            "debug=1",
            "log_stderror=yes",
            "children=1",
            "tcp_children=1",
            "auto_aliases=no",
            f"listen=udp:{address}:{port}",
            f"listen=tcp:{address}:{port}",
            *(["enable_tls=yes", f"listen=tls:{address}:{tls_port}"] if tls else []),
            # is_method lives in siputils: without it the configuration does not parse.
            *(f'loadmodule "{m}.so"' for m in ("sl", "pv", "textops", "siputils")),
            *(['loadmodule "tls.so"', f'modparam("tls", "config", "{tls_cfg}")'] if tls else []),
            "request_route {",
            '  if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }',
            '  sl_send_reply("405", "Method Not Allowed");',
            "}",
            "",
        ]
    )


def kamailio_tls_cfg(cert: Path, key: Path) -> str:
    """The TLS module's profiles: the simulation's certificate, no client certificates."""
    return "\n".join(
        [
            "[server:default]",
            "method = TLSv1.2+",
            "verify_certificate = no",
            "require_certificate = no",
            f"certificate = {cert}",
            f"private_key = {key}",
            "",
            "[client:default]",
            "verify_certificate = no",
            "require_certificate = no",
            "",
        ]
    )


def kamailio_server(
    ns: str,
    workdir: Path,
    address: str,
    port: int = 5060,
    *,
    tls_port: int = 0,
    cert: Path | None = None,
    key: Path | None = None,
) -> Server:
    """kamailio on ``address``: SIP over UDP and TCP ``port``, and over TLS ``tls_port``
    with ``cert`` and ``key`` (when given)."""
    tls_cfg = None
    if tls_port and cert is not None and key is not None:
        tls_cfg = workdir / "kamailio-tls.cfg"
        tls_cfg.write_text(kamailio_tls_cfg(cert, key))
    path = workdir / "kamailio.cfg"
    path.write_text(kamailio_conf(address, port, tls_port=tls_port, tls_cfg=tls_cfg))
    run = workdir / "kamailio-run"
    run.mkdir(exist_ok=True)
    argv = ["kamailio", "-f", str(path), "-DD", "-E", "-m", "16", "-M", "4",
            "-P", str(workdir / "kamailio.pid"), "-Y", str(run)]  # fmt: skip
    listens: list[Listen] = [("udp", address, port), ("tcp", address, port)]
    if tls_cfg is not None:
        listens.append(("tcp", address, tls_port))
    return Server("kamailio", ns, argv, workdir / "kamailio.out", listens)
