"""Telegram's own answer: MTProto ``req_pq_multi`` → ``resPQ``, on the wire and on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading

import pytest

from voipwatch.probe import mtproto
from voipwatch.testing import loopback_ip

NOW = 1_764_000_000.0
PQ = 0x17ED48941A08F981  # the example of core.telegram.org/mtproto/samples-auth_key
KEYS = [-3414540481677951611]


def _answer(request: bytes) -> bytes:
    return mtproto.res_pq(request, os.urandom(16), PQ, KEYS)


def test_request_layout_follows_the_spec() -> None:
    nonce = bytes(range(16))
    msg = mtproto.req_pq_multi(nonce, NOW)
    auth_key_id, msg_id, length = struct.unpack_from("<qqi", msg)
    assert (auth_key_id, length, len(msg)) == (0, 20, 40)
    assert msg_id % 4 == 0
    assert msg_id >> 32 == int(NOW)
    assert msg[20:24] == bytes.fromhex("f18e7ebe")  # be7e8ef1, little-endian
    assert msg[24:] == nonce
    framed = mtproto.frame(msg)
    assert framed[:4] == b"\xee" * 4
    assert int.from_bytes(framed[4:8], "little") == 40


def test_a_valid_res_pq_is_accepted_and_every_damage_named() -> None:
    nonce = os.urandom(16)
    req = mtproto.req_pq_multi(nonce, NOW)
    good = _answer(req)
    assert len(mtproto.parse_res_pq(good, nonce)) == 16
    vector = good.index(struct.pack("<I", mtproto.VECTOR))
    damaged = {
        "length says": good[:30],
        "header is 20": good[:12],
        "the nonce is not ours": _answer(mtproto.req_pq_multi(os.urandom(16), NOW)),
        "is not resPQ": good[:20] + b"\x00\x00\x00\x00" + good[24:],
        "auth_key_id": b"\x01" + good[1:],
        "no server key fingerprints": good[:vector] + b"\x00" * 4 + good[vector + 4 :],
    }
    for reason, raw in damaged.items():
        with pytest.raises(mtproto.BadAnswer, match=reason):
            mtproto.parse_res_pq(raw, nonce)
    # Random bytes never pass and never raise anything else.
    for n in range(0, 120, 7):
        with pytest.raises(mtproto.BadAnswer):
            mtproto.parse_res_pq(os.urandom(n), nonce)


class _Server:
    """One TCP connection on loopback, handled by ``behaviour``."""

    def __init__(self, behaviour: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((loopback_ip(), 0))
        self.sock.listen(1)
        self.sock.settimeout(10)
        self.behaviour = behaviour
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            data = b""
            while len(data) < 48:
                chunk = conn.recv(64)
                if not chunk:
                    return
                data += chunk
            if self.behaviour == "answer":
                ans = _answer(data[8:48])
                conn.sendall(struct.pack("<I", len(ans)) + ans)
            elif self.behaviour == "truncated":
                ans = _answer(data[8:48])
                conn.sendall(struct.pack("<I", len(ans)) + ans[:25])
            elif self.behaviour == "garbage":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            elif self.behaviour == "silent":
                conn.recv(1)  # until the client gives up

    def close(self) -> None:
        self.sock.close()
        self.thread.join(10)


@pytest.mark.parametrize(
    ("behaviour", "failure", "detail"),
    [
        ("answer", None, "resPQ"),
        ("truncated", "mtproto_bad_answer", "truncated answer"),
        ("garbage", "mtproto_bad_answer", "a packet of"),
        ("silent", "mtproto_no_answer", "no answer after the connect"),
        ("closes", "mtproto_no_answer", "closed without an answer"),
    ],
)
def test_exchange_on_loopback(behaviour: str, failure: str | None, detail: str) -> None:
    server = _Server(behaviour)
    try:
        ip, port = server.sock.getsockname()
        got = asyncio.run(mtproto.exchange(ip, port, 1.0, NOW))
    finally:
        server.close()
    assert got[0] is True
    assert got[1] == failure
    assert got[2].startswith(detail)


def test_a_refused_connect_is_not_connected() -> None:
    with socket.socket() as s:
        s.bind((loopback_ip(), 0))
        port = s.getsockname()[1]
    connected, failure, _ = asyncio.run(mtproto.exchange(loopback_ip(), port, 1.0, NOW))
    assert (connected, failure) == (False, "connection_refused")
