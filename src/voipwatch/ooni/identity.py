"""A measurement's identity, for idempotent storage and stable verdict ids.

OONI deduplicates on ``(report_id, input, measurement_start_time)`` (the fastpath
table's ``ORDER BY``). We use the same triple, plus ``test_name``; when the
``report_id`` is empty (a local run never submitted) the raw bytes' hash stands in.
The key is the same whether a measurement arrives bare, inside an API wrapper or in
a postcan, so every packaging of one measurement is stored once.
"""

from __future__ import annotations

import hashlib
from typing import Any


def input_str(value: Any) -> str | None:
    """OONI ``input`` is a string, null, or (in legacy data) a list."""
    if value is None:
        return None
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def measurement_key(
    *, report_id: str, input: str | None, start_time: str, test_name: str, raw: bytes
) -> str:
    """A 32-hex-digit key for the store."""
    h = hashlib.blake2b(digest_size=16)
    if report_id:
        h.update("\x00".join((report_id, input or "", start_time, test_name)).encode())
    else:
        h.update(b"raw\x00")
        h.update(raw)
    return h.hexdigest()


def synthetic_uid(*, start_time: str, probe_cc: str, test_name: str, key: str) -> str:
    """An OONI-shaped ``measurement_uid`` for measurements that arrive without one.

    OONI's collector assigns ``20221105223930.168194_JP_whatsapp_e3e891f975f0d5ef``; we
    derive the same shape deterministically from the start time and the key, with a
    zero fraction so it can never collide with a real one.
    """
    digits = "".join(filter(str.isdigit, start_time))[:14].ljust(14, "0")
    return f"{digits}.000000_{probe_cc or 'ZZ'}_{test_name.replace('_', '')}_{key[:16]}"
