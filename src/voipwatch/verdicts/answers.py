"""The app's own answer, and networks that accept every connection (voipwatch's probe).

OONI's IM tests call a service reachable when a TCP connect (or an HTTP answer from
its address) succeeds; a middlebox that completes every handshake gives both. Our
probe adds, beside OONI's keys:

* ``x_mtproto``: an unauthenticated MTProto ``req_pq_multi`` to each Telegram data
  centre; only Telegram answers with a ``resPQ`` carrying the request's nonce;
* ``x_accept_all``: a connect to a port nothing serves on an address it tests; a
  completed connect there shows the network answers in the hosts' place.

A data centre that accepts the connection and then gives no valid answer is
``tcp.accept_then_drop``: ``confirmed`` when the accept-all check shows the network
accepts everything, unconfirmed (an anomaly) otherwise. On such a network, any role
of the measurement whose handshake or request met silence after the connect
(``tls.timeout``, ``http.timeout``) is the same technique, confirmed. Applied after
a test's own rule, on that rule's verdicts.

And a measurement in which nothing reached the outside — no connection, handshake
or request succeeded, and the control helper could not be asked — isolates nothing:
a role it failed on is ``failure`` (no path out), never a technique.
Pure: decoded test keys and verdicts in.
"""

from __future__ import annotations

import msgspec

from voipwatch.catalog import Catalog
from voipwatch.ooni.failures import normalise
from voipwatch.ooni.model import TestKeys, failure_str
from voipwatch.verdicts.types import Evidence, RoleStatus, RoleVerdict

#: The note that says so (the probe's summary turns it into a warning line).
ACCEPT_ALL_NOTE = "this network accepts every connection"
#: Role verdicts a silent data centre overrides: the rule saw the connect (and maybe an
#: HTTP answer a middlebox can give, or none after the connect), nothing of Telegram
#: itself. A failure before the connect (DNS, TCP) explains more and stays.
_OVERRIDDEN = ("ok", "degraded")
_AFTER_CONNECT = ("http.", "tls.")
#: Silence after a completed connect: what an accept-and-drop middlebox gives.
_SILENT = ("tls.timeout", "http.timeout")
#: Roles OONI's tests (and so ours) call reachable on a TCP connect alone.
CONNECT_ONLY = (
    "whatsapp/endpoints",
    "messenger/edge",
    "messenger/api",
    "messenger/star",
    "messenger/cdn",
    "messenger/stun",
)


_CERT_FAILURES = ("ssl_invalid_hostname", "ssl_unknown_authority", "ssl_invalid_certificate")


def _intercepted(v: RoleVerdict, tk: TestKeys, cat: Catalog) -> RoleVerdict:
    """A connect-only role whose hosts' handshakes (voipwatch's, beside OONI's
    connect) present a certificate that does not verify for the name: ``tls.mitm``,
    confirmed when the control helper sees a valid one from outside."""
    if v.role not in CONNECT_ONLY or v.status != "ok":
        return v
    role = cat.roles.get(v.role)
    hosts = set(role.hosts) if role is not None else set()
    by_host: dict[str, list[tuple[str | None, str]]] = {}
    for h in tk.tls_handshakes or ():
        if h.server_name in hosts and "target" in (h.tags or ()):
            by_host.setdefault(h.server_name, []).append((failure_str(h.failure), h.address or ""))
    bad = {
        host: hs
        for host, hs in by_host.items()
        if hs and all(f is not None and normalise(f) in _CERT_FAILURES for f, _ in hs)
    }
    if not bad:
        return v
    outside = tk.x_control.tls if tk.x_control is not None else None
    seen_ok = [
        bool(r.success)
        for host, hs in bad.items()
        for _, address in hs
        if (r := (outside or {}).get(f"{address} {host}")) is not None
    ]
    confirmed = bool(seen_ok) and all(seen_ok)
    detail = "a certificate that does not verify for the name"
    if confirmed:
        detail += "; seen from outside the network, the server's certificate is valid"
    evidence = [
        Evidence("tls_handshake", normalise(hs[-1][0] or ""), host, detail)
        for host, hs in sorted(bad.items())
    ]
    status: RoleStatus = "partial" if len(bad) < len(by_host) else "blocked"
    return msgspec.structs.replace(
        v,
        status=status,
        technique="tls.mitm",
        confirmed=confirmed,
        confidence=0.95 if confirmed else 0.6,
        evidence=evidence,
    )


def _unreliable(v: RoleVerdict, why: str) -> RoleVerdict:
    if v.role not in CONNECT_ONLY or v.status != "ok":
        return v
    ev = Evidence("connect", "", v.role, f"a completed connect proves nothing: {why}")
    return msgspec.structs.replace(v, status="unknown", confidence=0.0, evidence=[ev])


def _overridden(v: RoleVerdict) -> bool:
    if v.status in _OVERRIDDEN:
        return True
    after = v.technique is None or v.technique.startswith(_AFTER_CONNECT)
    return v.status in ("blocked", "partial") and after


def accept_all_note(tk: TestKeys) -> str | None:
    """The run's warning when a connect that must fail completed, else None."""
    a = getattr(tk, "x_accept_all", None)
    if a is None or not a.connected:
        return None
    return (
        f"{ACCEPT_ALL_NOTE}: a connect to {a.address or 'a closed port'}, where nothing "
        "listens, completed; results that rest on a connect alone are unreliable"
    )


def _silent_after_connect(v: RoleVerdict) -> RoleVerdict:
    # A timeout after the connect that the rule put down to a lossy path: the path's
    # flakiness is itself the middlebox's doing here.
    lost = (
        v.technique == "degraded.loss"
        and bool(v.evidence)
        and all(
            e.operation in ("tls_handshake", "http_request")
            and e.failure == "generic_timeout_error"
            for e in v.evidence
        )
    )
    if lost:
        v = msgspec.structs.replace(v, status="blocked", technique="tls.timeout")
    if v.status not in ("blocked", "partial") or v.technique not in _SILENT:
        return v
    why = "the network completes connects where nothing listens, then stays silent"
    evidence = [
        msgspec.structs.replace(e, detail=f"{e.detail}; {why}" if e.detail else why)
        for e in v.evidence
    ]
    return msgspec.structs.replace(
        v, technique="tcp.accept_then_drop", confirmed=True, confidence=0.9, evidence=evidence
    )


NO_PATH_NOTE = "nothing reached the outside"


def no_path_out(tk: TestKeys) -> bool:
    """Our probe's measurement in which no connection went anywhere, controls included."""
    if getattr(tk, "x_control", None) is not None or not getattr(tk, "x_control_failure", None):
        return False
    for c in tk.tcp_connect or ():
        if c.status is not None and c.status.success:
            return False
    if any(not failure_str(h.failure) for h in tk.tls_handshakes or ()):
        return False
    if any(not failure_str(r.failure) for r in tk.requests or ()):
        return False
    if any(e.success for e in getattr(tk, "x_exchanges", None) or ()):
        return False  # the call plane's helper or an app's server answered
    # The trusted resolvers (DoH, DoT, public UDP) are outside: an answer is a path.
    for q in tk.queries or ():
        if "system" not in (q.tags or ("system",)) and not failure_str(q.failure) and q.answers:
            return False
    return any(a.connected for a in getattr(tk, "x_mtproto", None) or ()) is False


def _no_path(v: RoleVerdict, why: str) -> RoleVerdict:
    if v.status == "ok":
        return v
    evidence = [msgspec.structs.replace(e, detail=why) for e in v.evidence[:1]] or [
        Evidence("connect", "generic_timeout_error", v.role, why)
    ]
    return msgspec.structs.replace(
        v, status="failure", technique=None, confirmed=False, confidence=0.0, evidence=evidence
    )


def apply(
    tk: TestKeys, verdicts: list[RoleVerdict], cat: Catalog
) -> tuple[list[RoleVerdict], list[str]]:
    """The verdicts with the app's own answers taken into account (the roles' hosts
    from catalogue ``cat``), and notes."""
    notes: list[str] = []
    if no_path_out(tk):
        why = (
            f"{NO_PATH_NOTE}: no connection succeeded and the control helper could not "
            f"be asked ({tk.x_control_failure})"
        )
        return [_no_path(v, why) for v in verdicts], [why]
    warning = accept_all_note(tk)
    if warning is not None:
        notes.append(warning)
    verdicts = [_intercepted(v, tk, cat) for v in verdicts]
    if warning is not None:
        verdicts = [_unreliable(_silent_after_connect(v), warning) for v in verdicts]
    answers = getattr(tk, "x_mtproto", None)
    if not answers:
        return verdicts, notes
    valid = [a for a in answers if a.connected and not failure_str(a.failure)]
    silent = [a for a in answers if a.connected and failure_str(a.failure)]
    if not silent:
        return verdicts, notes
    why = "connected, then no valid MTProto answer (resPQ)"
    if warning is not None:
        why += "; the network completes connects where nothing listens"
    evidence = [
        Evidence(
            "mtproto",
            normalise(failure_str(a.failure) or "generic_timeout_error"),
            a.address or "",
            f"{why}: {a.detail}" if a.detail else why,
        )
        for a in silent
    ]
    out = []
    for v in verdicts:
        if v.role == "telegram/dc" and _overridden(v):
            v = msgspec.structs.replace(
                v,
                status="partial" if valid else "blocked",
                technique="tcp.accept_then_drop",
                confidence=0.9 if warning is not None else 0.6,
                evidence=evidence,
                confirmed=warning is not None,
            )
        out.append(v)
    return out, notes
