"""Telegram's own answer: an unauthenticated MTProto ``req_pq_multi`` and its ``resPQ``.

The first message of every Telegram client (core.telegram.org/mtproto/auth_key,
step 1), sent before any key exists, so it needs no account and carries nothing
about the user: a random 128-bit nonce. Only an MTProto server answers it with a
``resPQ`` that echoes the nonce — a middlebox that completes every TCP handshake
and then drops (as Russia's TSPU does to MTProto) gives a connect and no answer.

Wire format (core.telegram.org/mtproto/description, "Unencrypted Message";
core.telegram.org/mtproto/mtproto-transports, "Intermediate"): the transport's
tag ``0xeeeeeeee`` once, then each packet as a 4-byte little-endian length and
the message::

    auth_key_id = 0 (int64) | message_id (int64) | length (int32) | body
    req_pq_multi#be7e8ef1 nonce:int128 = ResPQ
    resPQ#05162463 nonce:int128 server_nonce:int128 pq:string
                   server_public_key_fingerprints:Vector<long> = ResPQ

Pure encoders and a parser here; :func:`exchange` does the one round trip.
"""

from __future__ import annotations

import asyncio
import os
import struct

from voipwatch.probe import tcp
from voipwatch.probe.errors import failure_of
from voipwatch.probe.route import DIRECT, Route

INTERMEDIATE = b"\xee\xee\xee\xee"
REQ_PQ_MULTI = 0xBE7E8EF1
RES_PQ = 0x05162463
VECTOR = 0x1CB5C415
#: An answer longer than this is not a resPQ (a few dozen bytes).
MAX_ANSWER = 4096


class BadAnswer(ValueError):
    """What came back is not a valid resPQ to our request (the reason is the message)."""


def message_id(now: float) -> int:
    """A client message id: unix time × 2³², divisible by 4."""
    return (int(now * 2**32)) & ~3


def req_pq_multi(nonce: bytes, now: float) -> bytes:
    """The unencrypted ``req_pq_multi`` message (without the transport framing)."""
    if len(nonce) != 16:
        raise ValueError("the nonce is 16 bytes")
    body = struct.pack("<I", REQ_PQ_MULTI) + nonce
    return struct.pack("<qqi", 0, message_id(now), len(body)) + body


def frame(message: bytes, *, first: bool = True) -> bytes:
    """The intermediate transport's packet (with its tag on the first one)."""
    return (INTERMEDIATE if first else b"") + struct.pack("<I", len(message)) + message


def _tl_bytes(data: bytes, at: int) -> tuple[bytes, int]:
    """A TL ``string`` at ``at``: its bytes and the offset after its padding."""
    if at >= len(data):
        raise BadAnswer("truncated before pq")
    n, head = data[at], 1
    if n == 254:
        if at + 4 > len(data):
            raise BadAnswer("truncated in pq's length")
        n, head = int.from_bytes(data[at + 1 : at + 4], "little"), 4
    end = at + head + n
    if end > len(data):
        raise BadAnswer("truncated in pq")
    return data[at + head : end], end + (-(head + n) % 4)


def parse_res_pq(message: bytes, nonce: bytes) -> bytes:
    """Check an unencrypted ``resPQ`` answer to ``nonce``; the server nonce.

    Raises :class:`BadAnswer` naming what is wrong.
    """
    if len(message) < 20:
        raise BadAnswer(f"truncated: {len(message)} bytes, a message header is 20")
    auth_key_id, _msg_id, length = struct.unpack_from("<qqi", message)
    if auth_key_id != 0:
        raise BadAnswer("not an unencrypted message (auth_key_id is not 0)")
    body = message[20:]
    if length != len(body):
        raise BadAnswer(f"length says {length} bytes, {len(body)} came")
    if len(body) < 4 + 16 + 16:
        raise BadAnswer("truncated resPQ")
    (constructor,) = struct.unpack_from("<I", body)
    if constructor != RES_PQ:
        raise BadAnswer(f"constructor {constructor:#010x} is not resPQ")
    if body[4:20] != nonce:
        raise BadAnswer("the nonce is not ours")
    server_nonce = body[20:36]
    pq, at = _tl_bytes(body, 36)
    if not pq or int.from_bytes(pq, "big") < 4:
        raise BadAnswer("pq is not a product of two primes")
    if at + 8 > len(body):
        raise BadAnswer("truncated before the key fingerprints")
    vector, count = struct.unpack_from("<Ii", body, at)
    if vector != VECTOR or not 0 < count <= 64 or at + 8 + 8 * count > len(body):
        raise BadAnswer("no server key fingerprints")
    return server_nonce


def res_pq(request: bytes, server_nonce: bytes, pq: int, fingerprints: list[int]) -> bytes:
    """A server's ``resPQ`` to an unencrypted ``req_pq_multi`` (the simulator's DC)."""
    auth_key_id, msg_id, length = struct.unpack_from("<qqi", request)
    body = request[20:]
    if auth_key_id != 0 or length != len(body) or len(body) != 20:
        raise BadAnswer("not an unencrypted req_pq_multi")
    if struct.unpack_from("<I", body)[0] != REQ_PQ_MULTI:
        raise BadAnswer("not req_pq_multi")
    raw = pq.to_bytes((pq.bit_length() + 7) // 8, "big")
    tl = bytes([len(raw)]) + raw
    tl += b"\x00" * (-len(tl) % 4)
    out = struct.pack("<I", RES_PQ) + body[4:20] + server_nonce + tl
    out += struct.pack("<Ii", VECTOR, len(fingerprints))
    out += b"".join(struct.pack("<q", f) for f in fingerprints)
    return struct.pack("<qqi", 0, (msg_id | 1), len(out)) + out


async def exchange(
    ip: str, port: int, timeout: float, now: float, *, source: str = "", route: Route = DIRECT
) -> tuple[bool, str | None, str]:
    """Connect, send ``req_pq_multi``, read the answer: (connected, failure, detail).

    ``failure`` is None for a valid ``resPQ``; ``mtproto_no_answer`` when the
    connection stays silent or is closed without an answer after connecting,
    ``mtproto_bad_answer`` (with the reason in ``detail``) for anything else.
    """
    nonce = os.urandom(16)
    try:
        reader, writer = await route.open_tcp(ip, port, timeout, source)
    except Exception as exc:
        return False, failure_of(exc), ""
    try:
        writer.write(frame(req_pq_multi(nonce, now)))
        async with asyncio.timeout(timeout):
            await writer.drain()
            head = await reader.readexactly(4)
            n = int.from_bytes(head, "little")
            if not 0 < n <= MAX_ANSWER:
                return True, "mtproto_bad_answer", f"a packet of {n} bytes"
            message = await reader.readexactly(n)
    except asyncio.IncompleteReadError as exc:
        what = "closed without an answer" if not exc.partial else "truncated answer"
        return True, "mtproto_no_answer" if not exc.partial else "mtproto_bad_answer", what
    except TimeoutError:
        return True, "mtproto_no_answer", "no answer after the connect"
    except Exception as exc:
        return True, failure_of(exc), "after the connect"
    finally:
        await tcp.close(writer)
    try:
        parse_res_pq(message, nonce)
    except BadAnswer as exc:
        return True, "mtproto_bad_answer", str(exc)
    return True, None, "resPQ"
