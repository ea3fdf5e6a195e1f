"""Sockets through real circumvention tools on loopback: SOCKS5 (dante with its UDP
relay, microsocks without one) and an HTTP CONNECT proxy (tinyproxy).

The tools are the Debian packages ``scripts/install-system-deps`` installs; each
test starts its own on a fresh loopback address, beside a TCP and a UDP echo.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.errors import UsageError
from voipwatch.probe import socks, udp
from voipwatch.probe.errors import ProbeFailure
from voipwatch.probe.route import BadTool, ViaRoute, parse_tool
from voipwatch.testing import loopback_ip

PORT = 1080
ECHO_PORT = 7007
CLOSED_PORT = 7008
SS_PORT = 8388
READY_SECONDS = 10.0


def _listening(ip: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((ip, port)) == 0


@pytest.fixture
def tool(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """``kind`` started on a fresh loopback address; yields its ``--via`` address."""
    kind: str = request.param
    binary = {
        "dante": "danted",
        "microsocks": "microsocks",
        "tinyproxy": "tinyproxy",
        "shadowsocks": "ss-local",
    }[kind]
    if shutil.which(binary) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{binary} is missing: scripts/install-system-deps installs it")
        pytest.skip(f"{binary} is not installed")
    if kind == "dante" and os.geteuid() != 0:
        pytest.skip("danted switches users: root")
    ip = loopback_ip()
    before: list[subprocess.Popen[bytes]] = []
    if kind == "dante":
        conf = tmp_path / "danted.conf"
        conf.write_text(
            f"logoutput: {tmp_path}/danted.log\ninternal: {ip} port = {PORT}\nexternal: {ip}\n"
            "clientmethod: none\nsocksmethod: none\nuser.privileged: root\n"
            "user.unprivileged: nobody\n"
            "client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }\n"
            "socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect udpassociate "
            "udpreply }\n"
        )
        argv = ["danted", "-f", str(conf), "-N", "1", "-p", str(tmp_path / "pid")]
    elif kind == "microsocks":
        argv = ["microsocks", "-i", ip, "-p", str(PORT)]
    elif kind == "tinyproxy":
        conf = tmp_path / "tinyproxy.conf"
        conf.write_text(f"Port {PORT}\nListen {ip}\nTimeout 10\nMaxClients 8\n")
        argv = ["tinyproxy", "-d", "-c", str(conf)]
    else:
        # The server and, on the same loopback address, its local SOCKS5 client.
        key = ["-k", "test-only-key", "-m", "chacha20-ietf-poly1305", "-u"]
        server = ["ss-server", "-s", ip, "-p", str(SS_PORT), *key]
        before.append(
            subprocess.Popen(server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        argv = ["ss-local", "-s", ip, "-p", str(SS_PORT), "-b", ip, "-l", str(PORT), *key]
    procs = [*before, subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + READY_SECONDS
        while not _listening(ip, PORT):
            assert all(p.poll() is None for p in procs), f"{binary} exited at start"
            assert time.monotonic() < deadline, f"{binary} does not listen"
            time.sleep(0.05)
        scheme = "http" if kind == "tinyproxy" else "socks5"
        yield f"{scheme}://{ip}:{PORT}#{kind}"
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class _UdpEcho(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(b"echo:" + data, addr)


async def _echo_servers(ip: str) -> tuple[asyncio.Server, asyncio.DatagramTransport]:
    async def tcp(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"echo:" + await r.read(64))
        await w.drain()
        w.close()

    server = await asyncio.start_server(tcp, ip, ECHO_PORT)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_UdpEcho, local_addr=(ip, ECHO_PORT))
    return server, transport


async def _through(url: str) -> dict[str, object]:
    target = loopback_ip()
    server, transport = await _echo_servers(target)
    route = ViaRoute(parse_tool(url), timeout=3.0)
    out: dict[str, object] = {}
    try:
        await route.start()
        out["udp"], out["udp_failure"] = route.carries_udp, route.udp_failure
        reader, writer = await route.open_tcp(target, ECHO_PORT, 3.0)
        writer.write(b"hi")
        await writer.drain()
        out["tcp"] = await asyncio.wait_for(reader.read(64), 3.0)
        writer.close()
        try:
            _, w = await route.open_tcp(target, CLOSED_PORT, 3.0)
        except ProbeFailure as exc:
            out["closed"] = exc.failure
        else:
            w.close()
        ans = await udp.exchange(
            target, ECHO_PORT, b"ping", lambda d: d == b"echo:ping", opener=route.open_udp
        )
        out["udp_reply"], out["udp_exchange_failure"] = ans.reply, ans.failure
    finally:
        server.close()
        transport.close()
    return out


@pytest.mark.parametrize("tool", ["dante"], indirect=True)
def test_socks5_with_a_udp_relay_carries_both_planes(tool: str) -> None:
    got = asyncio.run(_through(tool))
    assert got["udp"] is True
    assert got["udp_failure"] is None
    assert got["tcp"] == b"echo:hi"
    # What the tool saw of a closed port, in OONI's words.
    assert got["closed"] == "connection_refused"
    assert got["udp_reply"] == b"echo:ping"
    assert got["udp_exchange_failure"] is None


@pytest.mark.parametrize("tool", ["microsocks"], indirect=True)
def test_socks5_without_udp_associate_cannot_carry_calls(tool: str) -> None:
    got = asyncio.run(_through(tool))
    assert got["udp"] is False
    assert got["udp_failure"] == "socks_command_not_supported"
    assert got["tcp"] == b"echo:hi"
    assert got["closed"] == "connection_refused"
    # Nothing is sent: the exchange says so instead of recording silence.
    assert got["udp_reply"] is None
    assert got["udp_exchange_failure"] == "udp_not_carried"


@pytest.mark.parametrize("tool", ["tinyproxy"], indirect=True)
def test_http_connect_carries_tcp_only(tool: str) -> None:
    got = asyncio.run(_through(tool))
    assert got["udp"] is False
    assert got["udp_failure"] == "http_proxy_carries_tcp_only"
    assert got["tcp"] == b"echo:hi"
    assert str(got["closed"]).startswith("http_proxy_status_5")
    assert got["udp_exchange_failure"] == "udp_not_carried"


@pytest.mark.parametrize("tool", ["shadowsocks"], indirect=True)
def test_shadowsocks_carries_both_planes_but_answers_every_connect(tool: str) -> None:
    got = asyncio.run(_through(tool))
    assert got["udp"] is True
    assert got["tcp"] == b"echo:hi"
    assert got["udp_reply"] == b"echo:ping"
    # ss-local says "connected" before its server tries: a connect through it proves
    # nothing (the probe's accept-everything canary shows it on that path).
    assert "closed" not in got


def test_an_unreachable_tool_is_the_tools_failure_not_the_targets() -> None:
    ip = loopback_ip()  # nothing listens there

    async def go() -> str:
        route = ViaRoute(parse_tool(f"socks5://{ip}:{PORT}"), timeout=2.0)
        await route.start()
        assert route.udp_failure == "tool_connection_refused"
        try:
            await route.open_tcp("192.0.2.1", 443, 2.0)
        except ProbeFailure as exc:
            return exc.failure
        return "connected"

    assert asyncio.run(go()) == "tool_connection_refused"


@pytest.mark.parametrize(
    ("value", "scheme", "host", "port", "name"),
    [
        ("socks5://127.0.0.1:9050#tor", "socks5", "127.0.0.1", 9050, "tor"),
        ("socks5h://localhost:1080", "socks5", "localhost", 1080, "socks5"),
        ("http://[::1]:8118#privoxy", "http", "::1", 8118, "privoxy"),
    ],
)
def test_tool_addresses(value: str, scheme: str, host: str, port: int, name: str) -> None:
    t = parse_tool(value)
    assert (t.scheme, t.host, t.port, t.name) == (scheme, host, port, name)


@pytest.mark.parametrize(
    "value",
    ["127.0.0.1:9050", "ftp://h:1", "socks5://h", "socks5://h:0", "socks5://h:99999",
     "socks5://u:p@h:1", "http://h:1/path"],
)  # fmt: skip
def test_bad_tool_addresses_are_usage_errors_carrying_the_value(value: str) -> None:
    with pytest.raises(BadTool) as info:
        parse_tool(value)
    assert isinstance(info.value, UsageError)
    assert info.value.value == value
    assert info.value.reason


def test_socks_datagrams_round_trip_and_reject_malformed() -> None:
    for host in ("192.0.2.1", "2001:db8::1", "stun.example.org"):
        wrapped = socks.wrap_datagram(host, 3478, b"payload")
        assert socks.unwrap_datagram(wrapped) == (host, 3478, b"payload")
    fragment = b"\x00\x00\x01" + socks.encode_address("192.0.2.1", 1) + b"x"
    for bad in (b"", b"\x00\x00", fragment, b"\x00\x00\x00\x09", b"\x00\x00\x00\x01\x01"):
        assert socks.unwrap_datagram(bad) is None


def test_probe_names_the_flag_for_a_bad_tool_address(tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    done = CliRunner().invoke(app, ["probe", "--yes", "--via", "ftp://h:1", "--out", str(out)])
    assert done.exit_code == 2
    assert "--via 'ftp://h:1': the scheme must be socks5:// or http://" in done.output
    assert "Traceback" not in done.output
    assert not out.exists()  # nothing was measured
