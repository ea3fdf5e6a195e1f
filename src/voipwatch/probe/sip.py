"""SIP OPTIONS (RFC 3261 §11), the health check every SIP server answers.

The request names no address of the probe: Via and From use the reserved name
``voipwatch.invalid`` with ``rport`` (the answer comes back on the same socket or
connection, so the server needs no address of ours). Over UDP the request is padded with a
``Subject`` header so that the answer fits in fewer bytes than the request.
"""

from __future__ import annotations

import secrets

#: A SIP request's first line starts with one of these (helper and probe agree).
METHODS = (b"OPTIONS", b"INVITE", b"REGISTER", b"ACK", b"BYE", b"CANCEL", b"INFO", b"MESSAGE")
UDP_SIZE = 480


def options_request(host: str, port: int, transport: str, *, size: int = 0) -> bytes:
    """An OPTIONS request to ``sip:host:port`` (``transport``: UDP, TCP or TLS)."""
    branch = "z9hG4bK" + secrets.token_hex(8)
    tag = secrets.token_hex(4)
    call_id = secrets.token_hex(12) + "@voipwatch.invalid"
    lines = [
        f"OPTIONS sip:{host}:{port} SIP/2.0",
        # rport (RFC 3581): a server answers the UDP request's source address and port,
        # not the sent-by name's port 5060, which would never reach the probe's socket.
        f"Via: SIP/2.0/{transport.upper()} voipwatch.invalid;rport;branch={branch}",
        "Max-Forwards: 70",
        f"From: <sip:probe@voipwatch.invalid>;tag={tag}",
        f"To: <sip:{host}:{port}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        "Accept: application/sdp",
        "User-Agent: voipwatch",
    ]
    head = "\r\n".join(lines) + "\r\n"
    tail = "Content-Length: 0\r\n\r\n"
    if size:
        room = size - len(head) - len(tail) - len("Subject: \r\n")
        if room > 0:
            head += "Subject: " + "-" * room + "\r\n"
    return (head + tail).encode()


def header(msg: bytes, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), or None."""
    head = msg.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    want = name.lower()
    for line in head.split("\r\n")[1:]:
        k, sep, v = line.partition(":")
        if sep and k.strip().lower() == want:
            return v.strip()
    return None


def status_line(reply: bytes, request: bytes) -> str | None:
    """``SIP/2.0 200 OK`` when ``reply`` answers ``request`` (same Call-ID and CSeq)."""
    if not reply.startswith(b"SIP/2.0 "):
        return None
    if header(reply, "call-id") != header(request, "call-id"):
        return None
    if header(reply, "cseq") != header(request, "cseq"):
        return None
    return reply.split(b"\r\n", 1)[0].decode("latin-1")[:64]


def is_request(data: bytes) -> bool:
    first = data.split(b"\r\n", 1)[0]
    return first.split(b" ", 1)[0] in METHODS and first.endswith(b"SIP/2.0")
