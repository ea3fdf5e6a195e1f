"""OONI's failure vocabulary (df-007-errors) and its legacy spellings.

Spec: https://github.com/ooni/spec/blob/master/data-formats/df-007-errors.md

Legacy probes (ooniprobe 2.x, Measurement Kit) used other names for the same
failures; :func:`normalise` maps them onto the current ones so a rule written for
today's data judges 2016's the same way. voipwatch adds a few strings for facts the
spec has no name for; they are listed in :data:`VOIPWATCH_FAILURES`.
"""

from __future__ import annotations

import functools

LEGACY: dict[str, str] = {
    "connection_refused_error": "connection_refused",
    "connection_reset_error": "connection_reset",
    "tcp_timed_out_error": "generic_timeout_error",
    "response_never_received": "generic_timeout_error",
    "deadline_exceeded": "generic_timeout_error",
    "i/o timeout": "generic_timeout_error",
    "dns_lookup_error": "dns_server_misbehaving",
    "dns_name_error": "dns_nxdomain_error",
    "ssl_error": "ssl_failed_handshake",
    "connection_lost_error": "eof_error",
    "connection_done": "eof_error",
    "connect_error": "connect_error",
}

#: Strings voipwatch uses where df-007 has none.
VOIPWATCH_FAILURES: dict[str, str] = {
    "dns_inconsistent_answer": "the DNS answer points outside the networks that serve the app",
    "http_unexpected_status_code": "the server answered with an unexpected HTTP status",
    "http_blockpage": "the response is a block page (it matches a fingerprint of OONI's lists)",
    "stun_no_response": "no STUN binding response arrived",
}


@functools.lru_cache(maxsize=4096)
def normalise(failure: str) -> str:
    """Map a failure string onto its df-007 name (keeping unknown ones as they are).

    Cached: a handful of strings make up nearly every failure of every measurement.
    """
    f = failure.strip()
    low = f.lower()
    if low in LEGACY:
        return LEGACY[low]
    if low.startswith("ssl_error") or low.startswith("ssl_failed"):
        return "ssl_failed_handshake"
    if low.startswith("unknown_failure"):
        return "unknown_failure"
    if "reset" in low and not low.startswith("ssl_"):
        return "connection_reset"
    if "timed out" in low or "timeout" in low:
        return "generic_timeout_error"
    if "refused" in low and not low.startswith("dns_"):
        return "connection_refused"
    return f


def operation_of(failure: str) -> str:
    """Guess the failed operation from a failure string when the data does not say."""
    if failure.startswith("dns_") or failure == "android_dns_cache_no_data":
        return "resolve"
    if failure.startswith("ssl_"):
        return "tls_handshake"
    if failure in (
        "connection_refused",
        "host_unreachable",
        "network_unreachable",
        "connect_error",
    ):
        return "connect"
    return "http_request"
