"""The helper's STUN/TURN answers: binding success, and 401 to a TURN Allocate.

A binding request gets a binding success with XOR-MAPPED-ADDRESS (the address the
request came from, which the client needs and the helper forgets at once). A TURN
Allocate gets ``401 Unauthorized`` with REALM and NONCE: that proves TURN traffic
passes the network without the helper ever relaying anything. Everything else
that starts like STUN (answers, indications) gets no answer, so two servers can
never bounce messages at each other.
"""

from __future__ import annotations

import secrets

from voipwatch.probe import stun

REALM = b"voipwatch"


def answer(data: bytes, ip: str, port: int) -> bytes | None:
    """The answer to a STUN request from ``ip:port``, or None."""
    msg = stun.parse(data)
    if msg is None:
        return None
    if msg.type == stun.BINDING_REQUEST:
        value = stun.xor_address(ip, port, msg.transaction_id)
        return stun.encode(
            stun.BINDING_SUCCESS, msg.transaction_id, [(stun.ATTR_XOR_MAPPED_ADDRESS, value)]
        )
    if msg.type == stun.ALLOCATE_REQUEST:
        nonce = secrets.token_hex(8).encode()
        return stun.error_response(
            stun.ALLOCATE_ERROR,
            msg.transaction_id,
            401,
            "Unauthorized",
            [(stun.ATTR_REALM, REALM), (stun.ATTR_NONCE, nonce)],
        )
    return None
