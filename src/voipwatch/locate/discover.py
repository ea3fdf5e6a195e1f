"""Where the probe is: its public address, learnt from the test helper and looked
up at once, then dropped.

Three ways to ask, in order: the control helper's ``whoami`` (an HTTP POST of
``{"whoami": true}`` answered ``{"client": "<address>"}``, over TCP, which a censor
that drops STUN lets through), a STUN binding request to the call-plane helper (its
XOR-MAPPED-ADDRESS), and, with no helper, a binding to a public STUN server. The
address lives in one local variable of :func:`locate` and leaves it only as a
:class:`Location`, which has no field for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import struct
from collections.abc import Sequence
from urllib.parse import urlsplit

from voipwatch.locate.databases import Locator
from voipwatch.locate.model import Location
from voipwatch.probe import http, stun, tcp, udp
from voipwatch.probe.errors import ProbeFailure

#: The call-plane helper's STUN port.
STUN_PORT = 3478
#: Public STUN servers asked, at most, when the helper does not answer.
PUBLIC_TRIES = 2
_ANSWER_LIMIT = 4096


def _mapped(data: bytes, tid: bytes) -> str | None:
    """The (XOR-)MAPPED-ADDRESS of a binding success answering ``tid``."""
    msg = stun.parse(data)
    if msg is None or msg.type != stun.BINDING_SUCCESS or msg.transaction_id != tid:
        return None
    v = msg.attr(stun.ATTR_XOR_MAPPED_ADDRESS)
    if v is not None and len(v) in (8, 20):
        key = struct.pack("!I", stun.MAGIC) + tid
        raw = bytes(x ^ y for x, y in zip(v[4:], key, strict=False))
        return str(ipaddress.ip_address(raw))
    v = msg.attr(stun.ATTR_MAPPED_ADDRESS)
    if v is not None and len(v) in (8, 20):
        return str(ipaddress.ip_address(v[4:]))
    return None


async def _by_stun(address: str, port: int, timeout: float, source: str) -> str | None:
    tid = stun.new_transaction_id()
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(timeout):
            answer = await udp.exchange(
                address,
                port,
                stun.binding_request(tid),
                lambda d: _mapped(d, tid) is not None,
                retries=2,
                source=source,
            )
            if answer.reply is not None:
                return _mapped(answer.reply, tid)
    return None


async def _resolve(host: str, timeout: float) -> str | None:
    if tcp.is_ip(host):
        return host
    loop = asyncio.get_running_loop()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
            return str(infos[0][4][0])
    return None


async def _by_whoami(url: str, timeout: float) -> str | None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http" or not tcp.is_ip(host):
        return None  # the helper's name would need a resolver the censor may control
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await tcp.open_tcp(host, parts.port or 80, timeout)
            try:
                resp = await http.exchange(
                    reader,
                    writer,
                    method="POST",
                    target=parts.path or "/",
                    headers=[("Host", parts.netloc), ("Content-Type", "application/json")],
                    body=b'{"whoami": true}',
                    timeout=timeout,
                    body_limit=_ANSWER_LIMIT,
                )
            finally:
                await tcp.close(writer)
    except (TimeoutError, OSError, ProbeFailure):
        return None
    if resp.code != 200:
        return None
    try:
        client = json.loads(resp.body).get("client")
        return str(ipaddress.ip_address(client))
    except (ValueError, AttributeError, TypeError):
        return None


async def locate(
    locator: Locator,
    *,
    helper_url: str = "",
    stun_address: str = "",
    stun_port: int = STUN_PORT,
    timeout: float = 5.0,
    source_address: str = "",
    public_stun: Sequence[tuple[str, int]] = (),
) -> Location:
    """This probe's location according to ``locator``; ``source`` says why when unknown.

    ``source_address`` is the local address the STUN socket is bound to (the probe's
    ``source_address``: the address its call-plane tests speak from). Without an
    answer from the test helper, the first ``PUBLIC_TRIES`` of ``public_stun``
    (``host``, ``port``) are asked for a binding: the public STUN servers the probe
    tests anyway."""
    address = await _by_whoami(helper_url, timeout) if helper_url else None
    if address is None and stun_address:
        address = await _by_stun(stun_address, stun_port, timeout, source_address)
    for host, port in public_stun[:PUBLIC_TRIES]:
        if address is not None:
            break
        ip = await _resolve(host, timeout)
        if ip is not None:
            address = await _by_stun(ip, port, timeout, source_address)
    if address is None:
        return Location(source="no test helper or STUN server told the public address")
    found = locator.lookup(address)
    del address
    if not found.known:
        return Location(source=f"not in {locator.name}")
    return found
