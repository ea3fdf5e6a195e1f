"""STUN and TURN messages on the wire (RFC 8489, RFC 8656), the few the probe needs.

A 20-byte header (type, body length, magic cookie ``0x2112A442``, 12-byte
transaction id) and 4-byte-aligned TLV attributes. The probe's requests carry a
SOFTWARE attribute padded to a fixed size, so a server's answer fits in fewer bytes
than the request (the test helper never sends more than it received).

Shared by the probe and the test helper. A mapped address is parsed only to check
that an answer is well formed; it is never returned to a caller that stores things.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from dataclasses import dataclass

MAGIC = 0x2112A442
HEADER = 20

BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111
ALLOCATE_REQUEST = 0x0003
ALLOCATE_SUCCESS = 0x0103
ALLOCATE_ERROR = 0x0113

ATTR_MAPPED_ADDRESS = 0x0001
ATTR_ERROR_CODE = 0x0009
ATTR_REALM = 0x0014
ATTR_NONCE = 0x0015
ATTR_XOR_MAPPED_ADDRESS = 0x0020
ATTR_REQUESTED_TRANSPORT = 0x0019
ATTR_SOFTWARE = 0x8022

SOFTWARE = b"voipwatch"
#: Request sizes: room for the largest answer the helper gives (a 401 with REALM
#: and NONCE; a binding success with an IPv6 XOR-MAPPED-ADDRESS).
BINDING_SIZE = 48
ALLOCATE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Message:
    type: int
    transaction_id: bytes
    attributes: tuple[tuple[int, bytes], ...]

    def attr(self, t: int) -> bytes | None:
        for k, v in self.attributes:
            if k == t:
                return v
        return None


def _attr(t: int, value: bytes) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack("!HH", t, len(value)) + value + b"\0" * pad


def encode(type_: int, transaction_id: bytes, attrs: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(_attr(t, v) for t, v in attrs)
    return struct.pack("!HHI", type_, len(body), MAGIC) + transaction_id + body


def _padded(type_: int, tid: bytes, attrs: list[tuple[int, bytes]], size: int) -> bytes:
    base = encode(type_, tid, attrs)
    room = size - len(base) - 4  # the SOFTWARE attribute's own header
    software = SOFTWARE + b" " * max(0, room - len(SOFTWARE))
    return encode(type_, tid, [*attrs, (ATTR_SOFTWARE, software)])


def new_transaction_id() -> bytes:
    return os.urandom(12)


def binding_request(tid: bytes | None = None, *, size: int = BINDING_SIZE) -> bytes:
    """A binding request padded to ``size`` bytes (a multiple of 4, at least 32)."""
    return _padded(BINDING_REQUEST, tid or new_transaction_id(), [], size)


def allocate_request(tid: bytes | None = None, *, size: int = ALLOCATE_SIZE) -> bytes:
    """An unauthenticated TURN Allocate (UDP relay), padded; a server answers 401."""
    transport = bytes([17, 0, 0, 0])
    return _padded(
        ALLOCATE_REQUEST, tid or new_transaction_id(), [(ATTR_REQUESTED_TRANSPORT, transport)], size
    )


def looks_like_stun(data: bytes) -> bool:
    """RFC 7983's first byte (0–3) and the magic cookie."""
    return (
        len(data) >= HEADER
        and data[0] < 4
        and struct.unpack_from("!I", data, 4)[0] == MAGIC
        and len(data) % 4 == 0
    )


def parse(data: bytes) -> Message | None:
    """A well-formed STUN message, or None."""
    if not looks_like_stun(data):
        return None
    type_, length = struct.unpack_from("!HH", data, 0)
    if HEADER + length != len(data) or length % 4:
        return None
    attrs: list[tuple[int, bytes]] = []
    off = HEADER
    while off + 4 <= len(data):
        t, n = struct.unpack_from("!HH", data, off)
        off += 4
        if off + n > len(data):
            return None
        attrs.append((t, data[off : off + n]))
        off += n + ((-n) % 4)
    if off != len(data):
        return None
    return Message(type_, data[8:20], tuple(attrs))


def xor_address(ip: str, port: int, tid: bytes) -> bytes:
    """The XOR-MAPPED-ADDRESS value for ``ip:port`` (the helper's answer)."""
    a = ipaddress.ip_address(ip)
    cookie = struct.pack("!I", MAGIC)
    xport = port ^ (MAGIC >> 16)
    if a.version == 4:
        raw = bytes(x ^ y for x, y in zip(a.packed, cookie, strict=True))
        return struct.pack("!BBH", 0, 1, xport) + raw
    key = cookie + tid
    raw = bytes(x ^ y for x, y in zip(a.packed, key, strict=True))
    return struct.pack("!BBH", 0, 2, xport) + raw


def valid_mapped_address(msg: Message) -> bool:
    """Whether the answer carries a well-formed (XOR-)MAPPED-ADDRESS.

    The address itself is the user's public address: it is decoded to check it and
    then dropped, never returned.
    """
    for t in (ATTR_XOR_MAPPED_ADDRESS, ATTR_MAPPED_ADDRESS):
        v = msg.attr(t)
        if v is None or len(v) < 8:
            continue
        family = v[1]
        if (family == 1 and len(v) == 8) or (family == 2 and len(v) == 20):
            return True
    return False


def error_code(msg: Message) -> int | None:
    v = msg.attr(ATTR_ERROR_CODE)
    if v is None or len(v) < 4:
        return None
    return (v[2] & 0x7) * 100 + v[3]


def error_response(
    type_: int, tid: bytes, code: int, reason: str, extra: list[tuple[int, bytes]]
) -> bytes:
    value = struct.pack("!HBB", 0, code // 100, code % 100) + reason.encode()
    return encode(type_, tid, [(ATTR_ERROR_CODE, value), *extra])


def classify_reply(request_type: int, data: bytes, tid: bytes) -> str | None:
    """``binding_success``, ``error_401``, ``error_<code>``, or None (not an answer to us)."""
    msg = parse(data)
    if msg is None or msg.transaction_id != tid:
        return None
    if request_type == BINDING_REQUEST and msg.type == BINDING_SUCCESS:
        return "binding_success" if valid_mapped_address(msg) else "malformed"
    if request_type == ALLOCATE_REQUEST and msg.type == ALLOCATE_SUCCESS:
        return "allocate_success"
    if msg.type in (BINDING_ERROR, ALLOCATE_ERROR):
        code = error_code(msg)
        return f"error_{code}" if code is not None else "malformed"
    return None
