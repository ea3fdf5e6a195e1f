"""The technique vocabulary, and how an evidence atom names one.

Techniques are dotted and extensible (DESIGN.md, "Vocabulary"). Each entry says in
plain words what a censor does, and how sure an OONI-style measurement without a
control can be of it (``confidence``). No technique is proof on its own: a
non-routable answer comes from home routers and ad-blocking resolvers too. Proof is
a control that worked (voipwatch's probe) or a censor's fingerprint (OONI's data).
"""

from __future__ import annotations

from typing import NamedTuple


class Technique(NamedTuple):
    plain: str
    confidence: float


TECHNIQUES: dict[str, Technique] = {
    "dns.nxdomain": Technique("the name is made not to exist (DNS NXDOMAIN)", 0.8),
    "dns.bogon": Technique("the name resolves to a non-routable address (DNS tampering)", 0.85),
    "dns.inconsistent": Technique(
        "the name resolves to an address outside the app's networks", 0.7
    ),
    "dns.injection": Technique("forged DNS answers are injected on the path", 0.85),
    "dns.udp_only": Technique("DNS over UDP is tampered with, encrypted DNS is not", 0.85),
    "dns.timeout": Technique("DNS queries for the name go unanswered", 0.6),
    "dns.servfail": Technique("the resolver refuses or fails to answer for the name", 0.6),
    "tcp.timeout": Technique("connections to the app's servers time out (packets dropped)", 0.7),
    "tcp.refused": Technique("connections to the app's servers are refused or reset", 0.7),
    "ip.blocked": Technique("the app's server addresses are unreachable on every port", 0.75),
    "tls.reset": Technique(
        "the connection is reset when the app's server name is seen (SNI filtering)", 0.8
    ),
    "tls.timeout": Technique(
        "the secure connection stalls once the app's server name is "
        "seen (SNI filtering by dropping)",
        0.7,
    ),
    "tls.mitm": Technique("a certificate that is not the app's is presented (interception)", 0.85),
    "tls.failure": Technique("the secure connection to the app fails", 0.5),
    "http.blockpage": Technique("a block page or unexpected answer replaces the app's", 0.6),
    "http.reset": Technique("the connection is reset after the request is sent", 0.7),
    "http.timeout": Technique("the request gets no answer", 0.55),
    "http.failure": Technique("the request to the app fails", 0.5),
    "udp.timeout": Technique("UDP traffic to the app goes unanswered", 0.6),
    "udp.icmp": Technique("UDP traffic to the app is rejected (ICMP unreachable)", 0.7),
    "udp.port": Technique("the app's UDP port is blocked", 0.75),
    "stun.dpi": Technique("STUN traffic is filtered by protocol, on any port", 0.8),
    "sip.port": Technique("the SIP ports are blocked", 0.75),
    "sip.dpi": Technique("SIP traffic is filtered by protocol", 0.8),
    "dtls.dpi": Technique("DTLS (call encryption) handshakes are filtered", 0.8),
    "media.dpi": Technique(
        "call media is treated differently by its shape (RTP/DTLS), not by where it goes", 0.8
    ),
    "udp.blocked": Technique("UDP is dropped to every port and server (only some is allowed)", 0.8),
    "throttle.policed": Technique("traffic to the app is cut to a low rate (policing)", 0.7),
    "throttle.shaped": Technique("traffic to the app is slowed (shaping)", 0.7),
    "residual": Technique("after a blocked attempt, the path stays blocked for a while", 0.7),
    "degraded.loss": Technique("traffic to the app is lossy", 0.5),
    "vpn.handshake": Technique(
        "the VPN's connection opens but its handshake fails (VPN protocol filtering)", 0.6
    ),
    "tcp.accept_then_drop": Technique(
        "connections are accepted, then the app's own traffic is dropped "
        "(a middlebox answers in the server's place)",
        0.7,
    ),
}

_BY_OPERATION: dict[str, dict[str, str]] = {
    "resolve": {
        "dns_nxdomain_error": "dns.nxdomain",
        "dns_no_answer": "dns.nxdomain",
        "android_dns_cache_no_data": "dns.nxdomain",
        "dns_bogon_error": "dns.bogon",
        "dns_inconsistent_answer": "dns.inconsistent",
        "generic_timeout_error": "dns.timeout",
        "*": "dns.servfail",
    },
    "connect": {
        "generic_timeout_error": "tcp.timeout",
        "connection_refused": "tcp.refused",
        "connection_reset": "tcp.refused",
        "host_unreachable": "ip.blocked",
        "network_unreachable": "ip.blocked",
        "*": "ip.blocked",
    },
    "tls_handshake": {
        "connection_reset": "tls.reset",
        "eof_error": "tls.reset",
        "generic_timeout_error": "tls.timeout",
        "ssl_invalid_hostname": "tls.mitm",
        "ssl_unknown_authority": "tls.mitm",
        "ssl_invalid_certificate": "tls.mitm",
        "*": "tls.failure",
    },
    "http_request": {
        "connection_reset": "http.reset",
        "eof_error": "http.reset",
        "generic_timeout_error": "http.timeout",
        "http_unexpected_status_code": "http.blockpage",
        "http_blockpage": "http.blockpage",
        "*": "http.failure",
    },
    "stun_binding": {
        "generic_timeout_error": "udp.timeout",
        "stun_no_response": "udp.timeout",
        "connection_refused": "udp.icmp",
        "host_unreachable": "udp.icmp",
        "*": "udp.timeout",
    },
}


def technique_for(operation: str, failure: str) -> str:
    """Name the technique an evidence atom points to."""
    table = _BY_OPERATION.get(operation, _BY_OPERATION["http_request"])
    return table.get(failure, table["*"])


def describe(technique: str) -> str:
    t = TECHNIQUES.get(technique)
    return t.plain if t else technique
