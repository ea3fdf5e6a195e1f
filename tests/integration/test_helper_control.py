"""The control helper is neither a port scanner nor a relay (on loopback only).

It connects to the catalogue's public endpoints and to ranges the operator allows,
never to loopback, private, link-local or multicast addresses otherwise; identical
targets are measured once; each source has a budget of requests and connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from voipwatch.helper import control
from voipwatch.helper.targets import Budget, Sources, catalogue, parse_ranges, refusal

LOOPBACK = parse_ranges(["127.0.0.0/8"])
FORBIDDEN = [
    "127.0.0.1:{port}",
    "127.0.0.1:22",
    "[::1]:{port}",
    "[::ffff:127.0.0.1]:{port}",
    "0.0.0.0:{port}",
    "10.0.0.1:22",
    "172.16.0.1:443",
    "192.168.1.1:443",
    "100.64.0.1:443",
    "169.254.169.254:80",
    "224.0.0.1:443",
    "[fe80::1]:443",
    "[ff02::1]:443",
    "[fc00::1]:443",
    "198.18.0.1:443",
]


class Listener:
    """A loopback TCP server that counts the connections it accepts."""

    def __init__(self) -> None:
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Listener:
        async def on(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.accepted += 1
            w.close()

        self.server = await asyncio.start_server(on, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def ask(port: int, request: Any) -> tuple[int, dict[str, Any]]:
    body = json.dumps(request).encode()
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(
        b"POST / HTTP/1.1\r\nHost: helper\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await w.drain()
    data = await asyncio.wait_for(r.read(1 << 20), 20)
    w.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(payload)


async def helper(**kw: Any) -> tuple[asyncio.Server, int]:
    server = await control.start("127.0.0.1", 0, limits=control.Limits(connect=1, tls=1), **kw)
    return server, server.sockets[0].getsockname()[1]


def test_refusal_rules() -> None:
    cat = catalogue()
    assert cat.hosts
    assert cat.ports
    for target in FORBIDDEN:
        ip, _, port = target.format(port=443).rpartition(":")
        assert refusal(ip.strip("[]"), int(port), (), set()) == "not_a_public_address", target
    # Public, but neither named by the catalogue nor resolved from one of its hosts.
    assert refusal("93.184.216.34", 443, (), set()) == "not_a_catalogue_endpoint"
    assert refusal("93.184.216.34", 443, (), {"93.184.216.34"}) is None
    assert refusal("93.184.216.34", 22, (), {"93.184.216.34"}) == "not_a_catalogue_port"
    if cat.ips:
        literal = sorted(cat.ips)[0]
        assert refusal(literal, 443, (), set()) is None
    # An allowed range opens that range, any port, and nothing else.
    assert refusal("127.0.0.1", 22, LOOPBACK, set()) is None
    assert refusal("10.0.0.1", 22, LOOPBACK, set()) == "not_a_public_address"


def test_no_connection_to_forbidden_ranges() -> None:
    async def main() -> None:
        async with Listener() as target:
            server, port = await helper()
            try:
                addresses = [t.format(port=target.port) for t in FORBIDDEN]
                status, answer = await ask(
                    port,
                    {
                        "tcp_connect": addresses,
                        "tls": [{"address": a, "sni": "e1.whatsapp.net"} for a in addresses],
                    },
                )
            finally:
                server.close()
            assert status == 200
            assert answer["tcp_connect"] == {}
            assert answer["tls"] == {}
            assert set(answer["refused"].values()) == {"not_a_public_address"}
            assert len(answer["refused"]) == 2 * len(FORBIDDEN)
            assert target.accepted == 0

    asyncio.run(main())


def test_allowed_range_and_identical_targets_collapsed() -> None:
    async def main() -> None:
        async with Listener() as target:
            server, port = await helper(allow_ranges=LOOPBACK)
            try:
                a = f"127.0.0.1:{target.port}"
                status, answer = await ask(port, {"tcp_connect": [a] * 100})
            finally:
                server.close()
            assert status == 200
            assert answer["tcp_connect"] == {a: {"success": True, "failure": None}}
            assert "refused" not in answer
            assert target.accepted == 1

    asyncio.run(main())


def test_connection_and_request_budget_per_source() -> None:
    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            targets = [await stack.enter_async_context(Listener()) for _ in range(5)]
            budget = Budget(requests_per_minute=2, connections_per_minute=3)
            server, port = await helper(allow_ranges=LOOPBACK, budget=budget)
            try:
                many = [f"127.0.0.1:{t.port}" for t in targets]
                _, first = await ask(port, {"tcp_connect": many})
                status, second = await ask(port, {"tcp_connect": many[:1]})
                third, refused = await ask(port, {"tcp_connect": many[:1]})
            finally:
                server.close()
            assert len(first["tcp_connect"]) == 3
            assert set(first["refused"].values()) == {"source_budget_exhausted"}
            assert status == 200
            assert second["refused"] == {many[0]: "source_budget_exhausted"}
            assert third == 429
            assert "too many requests" in refused["error"]
            assert sum(t.accepted for t in targets) == 3

    asyncio.run(main())


def test_sources_window_takes_now() -> None:
    s = Sources(Budget(requests_per_minute=2, connections_per_minute=2, concurrent_requests=1))
    assert s.begin("a", 0.0) is None
    assert s.begin("a", 1.0) == "too many requests at once from this address"
    s.end("a")
    assert s.begin("b", 1.0) is None  # another source has its own budget
    assert s.begin("a", 2.0) is None
    s.end("a")
    assert s.begin("a", 3.0) is not None
    assert s.begin("a", 61.0) is None  # the first request left the window
    s.end("a")
    assert [s.take_connection("a", t) for t in (0.0, 1.0, 2.0, 60.5)] == [True, True, False, True]


@pytest.mark.parametrize("spec", ["nonsense", "10.0.0.0/33", "::1/129"])
def test_bad_ranges_are_errors(spec: str) -> None:
    with pytest.raises(ValueError, match=spec.replace(".", r"\.")):
        parse_ranges([spec])


def test_catalogue_hosts_by_name_pattern_and_domain() -> None:
    from voipwatch.helper.targets import is_catalogue_host

    assert is_catalogue_host("e1.whatsapp.net")
    assert is_catalogue_host("E17.WhatsApp.net.")  # by the role's pattern
    assert not is_catalogue_host("evil.example")
    assert not is_catalogue_host("whatsapp.net.evil.example")


def test_each_check_reports_the_step_that_failed() -> None:
    """A closed port fails the connect of both checks; a listener that speaks no TLS
    passes the connect and fails the handshake."""

    async def main() -> None:
        async with Listener() as gone:
            pass  # closed: nothing listens on its port any more
        async with Listener() as target:
            server, port = await helper(allow_ranges=LOOPBACK)
            try:
                up, down = f"127.0.0.1:{target.port}", f"127.0.0.1:{gone.port}"
                status, answer = await ask(
                    port,
                    {
                        "tcp_connect": [up, down],
                        "tls": [{"address": a, "sni": "e1.whatsapp.net"} for a in (up, down)],
                    },
                )
            finally:
                server.close()
        assert status == 200
        refused = {"success": False, "failure": "connection_refused"}
        assert answer["tcp_connect"] == {up: {"success": True, "failure": None}, down: refused}
        assert answer["tls"][f"{down} e1.whatsapp.net"] == refused
        handshake = answer["tls"][f"{up} e1.whatsapp.net"]
        assert handshake["success"] is False
        assert handshake["failure"] not in (None, "connection_refused")
        assert target.accepted == 2

    asyncio.run(main())
