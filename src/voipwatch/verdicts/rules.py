"""The rules that turn OONI's facts into a verdict, each named in the evidence it made.

An evidence atom's ``rule`` is one of these ids, so a reader can tell a proof from a
suspicion without knowing the code. On OONI's data only the ``fingerprint.censor``
rule confirms: OONI's measurements carry no control, and an answer is proof of a
censor only when it is one a censor is known to give (DESIGN.md, "Techniques").
"""

from __future__ import annotations

FINGERPRINT_CENSOR = "fingerprint.censor"
FINGERPRINT_ELSEWHERE = "fingerprint.elsewhere"
FINGERPRINT_VAGUE = "fingerprint.vague"
FINGERPRINT_FALSE_POSITIVE = "fingerprint.false_positive"
DNS_BOGON = "dns.bogon_answer"
DNS_INCONSISTENT = "dns.off_network_answer"
DNS_FAILURE = "dns.failure"
FIRST_FAILURE = "layer.first_failure"
EVERY_PORT = "ip.every_port"
PROBE_KEY = "probe.status_key"
WEB_CONNECTIVITY = "web_connectivity.blocking"
STUN_BINDING = "stun.binding"
TOR_TARGETS = "tor.targets"
TOOL_BOOTSTRAP = "tool.bootstrap"
RISEUP_API = "riseupvpn.api"
RISEUP_TRANSPORT = "riseupvpn.transport"

#: id -> what the rule concludes, in plain words (shown beside the evidence).
RULES: dict[str, str] = {
    FINGERPRINT_CENSOR: (
        "the answer is one a censor of this country is known to give (OONI's "
        "blocking fingerprints): confirmed"
    ),
    FINGERPRINT_ELSEWHERE: (
        "the answer matches a censor's fingerprint known from other countries only: "
        "suspected, not confirmed"
    ),
    FINGERPRINT_VAGUE: (
        "the answer matches a vague fingerprint (scope vbw, e.g. 0.0.0.0 or 127.0.0.1) "
        "that many filters give: suspected, not confirmed"
    ),
    FINGERPRINT_FALSE_POSITIVE: (
        "the answer matches a fingerprint of a known false positive (scope fp): not a "
        "sign of blocking"
    ),
    DNS_BOGON: (
        "a non-routable answer (such as :: or 10.x) with no censor's fingerprint: "
        "suspected, since a home router, an ad-blocking resolver or a broken IPv6 "
        "set-up answers so too"
    ),
    DNS_INCONSISTENT: (
        "an answer outside the app's networks with no censor's fingerprint: suspected"
    ),
    DNS_FAILURE: (
        "the name did not resolve (NXDOMAIN, no answer, timeout): suspected, as no "
        "fingerprint can prove a missing answer"
    ),
    FIRST_FAILURE: (
        "the first layer that failed (TCP, then TLS, then HTTP) names the technique: "
        "suspected, as OONI's tests have no control"
    ),
    EVERY_PORT: "every port tried on the app's addresses failed: suspected",
    PROBE_KEY: "the probe's own status key (legacy data without records): suspected",
    WEB_CONNECTIVITY: (
        "web_connectivity's comparison with OONI's control names the layer: suspected"
    ),
    STUN_BINDING: "the STUN binding request got no valid answer: suspected",
    TOR_TARGETS: (
        "the Tor relays, authorities or bridges the probe contacted: every one failing "
        "is blocked, more than half partial; fewer is routine (one out of service) and "
        "leaves the pool working. Suspected, as the test has no control"
    ),
    TOOL_BOOTSTRAP: (
        "the tool (Tor, Snowflake, Psiphon, OpenVPN) did not finish starting or could "
        "not carry a request: suspected, as the test has no control and the tool's own "
        "servers fail too"
    ),
    RISEUP_API: (
        "RiseupVPN's API (its CA certificate, the gateway list) could not be fetched: suspected"
    ),
    RISEUP_TRANSPORT: (
        "a RiseupVPN transport (OpenVPN, obfs4) counts as blocked only when no gateway "
        "offering it could be reached, as the spec advises; one failing gateway is routine"
    ),
}
