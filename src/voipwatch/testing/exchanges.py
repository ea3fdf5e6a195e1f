"""Call-plane exchanges (``x_exchanges`` entries) for verdict tests, on the reader's type.

An exchange is built as :class:`voipwatch.ooni.model.Exchange`, the type the reader
decodes, so a test cannot write a field the verdict rules would never see;
:func:`voipwatch.ooni.model.exchange_entry` turns it into the JSON object the probe
writes.
"""

from __future__ import annotations

from voipwatch.ooni.model import Exchange

TIMEOUT = "generic_timeout_error"
#: Addresses of the test helper and of an app's server (RFC 2544 benchmarking range).
HELPER_IP, APP_IP = "198.18.2.90", "198.18.18.9"


def exchange(
    role: str,
    target: str,
    port: int,
    payload: str,
    ok: bool,
    *,
    control: str = "",
    transport: str = "udp",
    failure: str = TIMEOUT,
    host: str = "",
    ip: str | None = None,
    attempt: int | None = 0,
    rejected_by: str | None = None,
) -> Exchange:
    """One exchange with ``target`` (``helper``, ``app`` or ``public``) on ``port``."""
    if ip is None:
        ip = HELPER_IP if target == "helper" else APP_IP
    return Exchange(
        role=role,
        target=target,
        host=host,
        address=f"{ip}:{port}",
        port=port,
        transport=transport,
        payload=payload,
        control=control,
        success=ok,
        failure=None if ok else failure,
        attempt=attempt,
        rejected_by=rejected_by,
    )
