"""Circumvention tools from Debian packages, as servers of the simulated internet.

* ``dante`` (dante-server's ``danted``): SOCKS5 with CONNECT and UDP ASSOCIATE;
* ``shadowsocks`` (shadowsocks-libev): ``ss-server`` in the internet and its local
  client ``ss-local`` in the client namespace, a SOCKS5 port with a UDP relay
  (``-u``) on the client's loopback, as a user runs it;
* ``microsocks``: SOCKS5, CONNECT only (no UDP: it cannot carry calls);
* ``tinyproxy``: an HTTP CONNECT proxy (TCP only).

The tool's server listens on :data:`~voipwatch.sim.plan.TOOL`; the censor's
``tool_drop`` recipe blocks that address. :func:`via_url` is what the probe is given.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Final

from voipwatch.sim.errors import SimulationError
from voipwatch.sim.plan import TOOL, TOOL_PORT
from voipwatch.sim.servers import Server

__all__ = ["PACKAGES", "tool_servers", "via_url"]

#: The Debian package and the binaries each tool needs.
PACKAGES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "dante": ("dante-server", ("danted",)),
    "shadowsocks": ("shadowsocks-libev", ("ss-server", "ss-local")),
    "microsocks": ("microsocks", ("microsocks",)),
    "tinyproxy": ("tinyproxy", ("tinyproxy",)),
}
#: shadowsocks' server port in the internet; its local client listens on TOOL_PORT.
SS_PORT: Final = 8388
SS_LOCAL: Final = "127.0.0.1"
SS_METHOD: Final = "chacha20-ietf-poly1305"


def via_url(kind: str) -> str:
    """The probe's ``--via`` for ``kind`` (named after the tool)."""
    if kind == "tinyproxy":
        return f"http://{TOOL}:{TOOL_PORT}#{kind}"
    host = SS_LOCAL if kind == "shadowsocks" else TOOL
    return f"socks5://{host}:{TOOL_PORT}#{kind}"


def _dante_conf(workdir: Path) -> str:
    return f"""logoutput: {workdir / "danted.log"}
internal: {TOOL} port = {TOOL_PORT}
external: {TOOL}
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{ from: 0.0.0.0/0 to: 0.0.0.0/0 }}
socks pass {{ from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect udpassociate udpreply }}
"""


def _tinyproxy_conf() -> str:
    # No ConnectPort line: CONNECT to every port (the apps use 443, 5222, 5061, ...).
    return f"Port {TOOL_PORT}\nListen {TOOL}\nTimeout 30\nMaxClients 64\n"


def tool_servers(kind: str, inet: str, client: str, workdir: Path) -> list[Server]:
    """The processes of ``kind``: in the internet namespace ``inet`` (and, for
    shadowsocks, its local client in ``client``). Raises :class:`SimulationError`
    naming the package when a binary is missing."""
    package, binaries = PACKAGES[kind]
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        raise SimulationError(
            f"{', '.join(missing)} not installed ({package}): run scripts/install-system-deps"
        )
    log = workdir / f"tool-{kind}.out"
    if kind == "dante":
        conf = workdir / "danted.conf"
        conf.write_text(_dante_conf(workdir))
        argv = ["danted", "-f", str(conf), "-N", "1", "-p", str(workdir / "danted.pid")]
        return [Server("dante", inet, argv, log, [("tcp", TOOL, TOOL_PORT)])]
    if kind == "microsocks":
        argv = ["microsocks", "-i", TOOL, "-p", str(TOOL_PORT)]
        return [Server("microsocks", inet, argv, log, [("tcp", TOOL, TOOL_PORT)])]
    if kind == "tinyproxy":
        conf = workdir / "tinyproxy.conf"
        conf.write_text(_tinyproxy_conf())
        argv = ["tinyproxy", "-d", "-c", str(conf)]
        return [Server("tinyproxy", inet, argv, log, [("tcp", TOOL, TOOL_PORT)])]
    password = secrets.token_urlsafe(16)
    common = ["-k", password, "-m", SS_METHOD, "-u"]
    server = Server(
        "ss-server",
        inet,
        ["ss-server", "-s", TOOL, "-p", str(SS_PORT), *common],
        log,
        [("tcp", TOOL, SS_PORT), ("udp", TOOL, SS_PORT)],
    )
    local = Server(
        "ss-local",
        client,
        ["ss-local", "-s", TOOL, "-p", str(SS_PORT), "-b", SS_LOCAL, "-l", str(TOOL_PORT),
         *common],
        workdir / "tool-ss-local.out",
        [("tcp", SS_LOCAL, TOOL_PORT), ("udp", SS_LOCAL, TOOL_PORT)],
    )  # fmt: skip
    return [server, local]
