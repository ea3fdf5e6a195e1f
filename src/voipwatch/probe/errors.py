"""Python exceptions → OONI failure strings, in one table.

Spec: https://github.com/ooni/spec/blob/master/data-formats/df-007-errors.md
(names as probe-cli's netxlite writes them). Operations are named as in OONI's
``failed_operation``: ``resolve``, ``connect``, ``tls_handshake``, ``http_request``.

A message from the operating system never reaches the output verbatim unless the
failure is unknown, and then only the exception's text, which on Linux carries no
addresses.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

RESOLVE = "resolve"
CONNECT = "connect"
TLS_HANDSHAKE = "tls_handshake"
HTTP_REQUEST = "http_request"

TIMEOUT = "generic_timeout_error"


class ProbeFailure(Exception):
    """A failure the probe itself detected, already named (a DNS rcode, a bad reply)."""

    def __init__(self, failure: str) -> None:
        self.failure = failure
        super().__init__(failure)


#: errno → df-007 name (netxlite's ``errno_linux.go`` names).
ERRNO: dict[int, str] = {
    errno.ECONNREFUSED: "connection_refused",
    errno.ECONNRESET: "connection_reset",
    # A write after the peer reset the connection.
    errno.EPIPE: "connection_reset",
    errno.ECONNABORTED: "connection_aborted",
    errno.EHOSTUNREACH: "host_unreachable",
    errno.ENETUNREACH: "network_unreachable",
    errno.ENETDOWN: "network_down",
    errno.ETIMEDOUT: TIMEOUT,
    errno.EADDRNOTAVAIL: "address_not_available",
    errno.EACCES: "permission_denied",
    errno.EPERM: "permission_denied",
    errno.EAFNOSUPPORT: "address_family_not_supported",
}

#: getaddrinfo error codes → df-007 names.
GAI: dict[int, str] = {
    socket.EAI_NONAME: "dns_nxdomain_error",
    getattr(socket, "EAI_NODATA", -5): "dns_no_answer",
    socket.EAI_AGAIN: "dns_temporary_failure",
    socket.EAI_FAIL: "dns_non_recoverable_failure",
}

#: DNS rcodes → df-007 names.
RCODE: dict[int, str] = {
    3: "dns_nxdomain_error",
    2: "dns_servfail_error",
    5: "dns_refused_error",
}

#: OpenSSL X509 verify codes → df-007 names.
_VERIFY_UNKNOWN_AUTHORITY = {2, 18, 19, 20, 21, 27}
_VERIFY_HOSTNAME = 62


def failure_of(exc: BaseException) -> str:
    """The df-007 failure string for an exception raised by a network operation."""
    if isinstance(exc, ProbeFailure):
        return exc.failure
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | socket.timeout):
        return TIMEOUT
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code == _VERIFY_HOSTNAME:
            return "ssl_invalid_hostname"
        if code in _VERIFY_UNKNOWN_AUTHORITY:
            return "ssl_unknown_authority"
        return "ssl_invalid_certificate"
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "eof_error"
    if isinstance(exc, ssl.SSLError):
        # OpenSSL reports an RST during the handshake as a library error on some
        # versions; the errno survives in the reason text.
        reason = (exc.reason or "").lower()
        if "reset" in reason:
            return "connection_reset"
        return "ssl_failed_handshake"
    if isinstance(exc, asyncio.IncompleteReadError | EOFError):
        return "eof_error"
    if isinstance(exc, socket.gaierror):
        return GAI.get(exc.errno or 0, "dns_server_misbehaving")
    if isinstance(exc, OSError) and exc.errno in ERRNO:
        return ERRNO[exc.errno]
    if isinstance(exc, ConnectionResetError):
        return "connection_reset"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    return f"unknown_failure: {exc.__class__.__name__}: {exc}"[:200]


def is_retryable(failure: str, attempt: int = 0) -> bool:
    """Whether attempt number ``attempt`` (0-based) may be followed by another.

    A timeout is retried once. Within one operation the transport already resends
    (SYNs, segments, DNS queries), but on a lossy path a whole handshake still times
    out now and then, and one such attempt looks exactly like a censor dropping it:
    only consistency across attempts tells them apart (the verdict reads loss from
    timeouts that do not repeat). A second timeout is not tried: it would cost a
    blackholed target a third full timeout and say nothing new. Certificate errors
    and NXDOMAIN are properties of the answer and do not change on a retry.
    """
    if failure == TIMEOUT:
        return attempt == 0
    return not failure.startswith(("ssl_invalid", "ssl_unknown", "dns_nxdomain", "dns_no_answer"))
