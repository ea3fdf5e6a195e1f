"""Endpoint outcomes for voipwatch's own measurements, which carry controls.

A verdict never claims a technique its controls did not isolate (DESIGN.md). Each
control changes one variable (voip_probing notes §2.7):

* a trusted resolver (DoH/DoT) against the system resolver — DNS tampering;
  plain UDP to the same public resolver — tampering of UDP DNS only; two
  different answers to one UDP query — on-path injection;
* the same address with a harmless server name — SNI filtering rather than
  blocking of the address;
* the control helper measuring the same target from outside the network — the
  target is *down* rather than blocked;
* repeated attempts — a lossy path is ``degraded``, not blocked.

Pure: facts in, an :class:`~voipwatch.verdicts.facts.Outcome` out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from voipwatch.catalog import Role
from voipwatch.ooni.model import Control
from voipwatch.verdicts.facts import Facts, Outcome, UdpResponse, is_bogon, is_ip
from voipwatch.verdicts.techniques import technique_for
from voipwatch.verdicts.types import Evidence, Observation

_CERT_FAILURES = ("ssl_invalid_hostname", "ssl_unknown_authority", "ssl_invalid_certificate")


def _results(lists: Sequence[list[str | None]]) -> tuple[bool, bool, str | None]:
    """(any success, any failure, the last failure) over several attempt lists."""
    flat = [r for rs in lists for r in rs]
    fails = [r for r in flat if r is not None]
    return (len(fails) < len(flat), bool(fails), fails[-1] if fails else None)


def _helper(control: Control | None, table: str, key: str) -> bool | None:
    """The control helper's view of ``key``: True reachable, False not, None unknown."""
    if control is None:
        return None
    entries = getattr(control, table, None) or {}
    r = entries.get(key)
    if r is None:
        return None
    if table == "dns":
        return bool(r.addrs) and not r.failure
    return bool(r.success) and not r.failure


_CONNECT_FAILURES = (
    "connection_refused",
    "connection_reset",
    "generic_timeout_error",
    "host_unreachable",
    "network_unreachable",
)


def _helper_reaches(control: Control | None, ip_port: str, host: str) -> bool | None:
    """Whether the control helper could connect to ``ip_port`` from outside.

    Its TCP table answers directly; a TLS attempt to the same address answers too
    (any handshake failure after the connect means the connect worked).
    """
    view = _helper(control, "tcp_connect", ip_port)
    if view is not None:
        return view
    entries = getattr(control, "tls", None) or {} if control is not None else {}
    r = entries.get(f"{ip_port} {host}")
    if r is None:
        return None
    return bool(r.success) or (bool(r.failure) and r.failure not in _CONNECT_FAILURES)


def _inconclusive(host: str, op: str, fail: str, obs: list[Observation]) -> Outcome:
    """Every attempt timed out on a path that loses packets: degraded, not blocked."""
    ev = Evidence(
        op,
        fail,
        host,
        "every attempt timed out, but the path loses packets "
        "(other attempts failed then succeeded): not evidence of blocking",
    )
    return Outcome(True, ev, "degraded.loss", obs, degraded=True)


def _injection(udp: list[UdpResponse]) -> list[UdpResponse] | None:
    by_tx: dict[int, list[UdpResponse]] = defaultdict(list)
    for r in udp:
        by_tx[r.transaction].append(r)
    for rs in by_tx.values():
        if len({r.answers for r in rs if r.failure is None and r.answers}) >= 2:
            return rs
    return None


@dataclass(slots=True)
class _DnsFinding:
    """What the DNS layer and its controls showed of a name."""

    evidence: Evidence
    technique: str
    confirmed: bool
    #: DNS alone is enough: the app never reaches its server.
    hard: bool

    def outcome(self, obs: list[Observation]) -> Outcome:
        return Outcome(False, self.evidence, self.technique, obs, confirmed=self.confirmed)


def probe_outcome(
    facts: Facts,
    role: Role,
    *,
    host: str,
    url: str | None = None,
    request_failures: Sequence[str | None] = (),
    expect_tls: bool = True,
    routable: tuple[str, ...] = (),
) -> Outcome:
    """Trace one endpoint through DNS → TCP → TLS → HTTP, with its controls."""
    obs: list[Observation] = []
    is_name = not is_ip(host.strip("[]"))
    dns: _DnsFinding | None = None
    ips: list[str] = [host]
    if is_name:
        found = _dns_layer(facts, role, host, routable, obs)
        if isinstance(found, Outcome):
            return found
        dns, ips = found
        if dns is not None and dns.hard:
            return dns.outcome(obs)
    outcome, flaky = _tcp_layer(facts, role, host, ips, is_name, dns, obs)
    if outcome is not None:
        return outcome
    if expect_tls and is_name:
        outcome, flaky_tls = _tls_layer(facts, role, host, ips, dns, obs)
        if outcome is not None:
            return outcome
        flaky = flaky or flaky_tls
    if dns is not None and not expect_tls and url is None:
        # Only a TCP connect (no TLS to vouch for the server): the answer is the evidence.
        return dns.outcome(obs)
    if url is not None and request_failures:
        outcome, flaky_http = _http_layer(facts, role, url, request_failures, dns, obs)
        if outcome is not None:
            return outcome
        flaky = flaky or flaky_http
    if flaky:
        return Outcome(
            True,
            Evidence(
                "connect", "generic_timeout_error", host, "some attempts failed, retries succeeded"
            ),
            "degraded.loss",
            obs,
            degraded=True,
        )
    return Outcome(True, observations=obs)


def _dns_layer(
    facts: Facts, role: Role, host: str, routable: tuple[str, ...], obs: list[Observation]
) -> Outcome | tuple[_DnsFinding | None, list[str]]:
    """The system resolver against the trusted one and plain UDP: tampering found (and
    the addresses to go on with), or the name gone (an :class:`Outcome`, ``down``)."""
    svc, rid = role.service, role.id
    dns: _DnsFinding | None = None
    sys_ = facts.dns.get(host)
    ctl = facts.dns_control.get(host)
    udp = facts.dns_udp.get(host, [])
    ctl_ips = {ip for ip, _ in ctl.answers} if ctl is not None and not ctl.failure else set()
    sys_ips = [ip for ip, _ in sys_.answers] if sys_ is not None else []
    for ip in sys_ips:
        obs.append(
            Observation(
                "dns", svc, rid, host, not ctl_ips or ip in ctl_ips, ip=ip, operation="resolve"
            )
        )
    if sys_ is not None and sys_.failure:
        obs.append(
            Observation("dns", svc, rid, host, False, operation="resolve", failure=sys_.failure)
        )

    def udp_lies(r: UdpResponse) -> bool:
        if r.failure:
            return bool(ctl_ips)
        bogus = any(is_bogon(ip, routable) for ip in r.answers)
        return bogus or bool(ctl_ips and r.answers and not r.answers & ctl_ips)

    udp_tampered = bool(ctl_ips) and bool(udp) and all(udp_lies(r) for r in udp)
    injected = _injection(udp)
    if injected is not None:
        detail = "; ".join(f"{', '.join(sorted(r.answers))} (IP TTL {r.ip_ttl})" for r in injected)
        dns = _DnsFinding(
            Evidence("resolve", "dns_injected_answer", host, f"two answers to one query: {detail}"),
            "dns.injection",
            True,
            hard=True,
        )
    elif sys_ is not None and sys_.failure:
        if ctl is not None and ctl.failure and not ctl_ips:
            # The trusted resolver cannot find the name either: it is gone.
            return Outcome(
                False,
                Evidence("resolve", sys_.failure, host, "the trusted resolver fails too"),
                None,
                obs,
                down=True,
            )
        tech = "dns.udp_only" if udp_tampered else technique_for("resolve", sys_.failure)
        detail = f"the trusted resolver answers {', '.join(sorted(ctl_ips))}" if ctl_ips else ""
        dns = _DnsFinding(
            Evidence("resolve", sys_.failure, host, detail), tech, bool(ctl_ips), hard=True
        )
    elif any(is_bogon(ip, routable) for ip in sys_ips):
        bogon = next(ip for ip in sys_ips if is_bogon(ip, routable))
        tech = "dns.udp_only" if udp_tampered else "dns.bogon"
        dns = _DnsFinding(
            Evidence("resolve", "dns_bogon_error", host, f"answer {bogon} is not routable"),
            tech,
            True,
            hard=True,
        )
    elif ctl_ips and sys_ips and not set(sys_ips) & ctl_ips:
        tech = "dns.udp_only" if udp_tampered else "dns.inconsistent"
        dns = _DnsFinding(
            Evidence(
                "resolve",
                "dns_inconsistent_answer",
                host,
                f"system answer {', '.join(sys_ips)}; the trusted resolver "
                f"answers {', '.join(sorted(ctl_ips))}",
            ),
            tech,
            True,
            hard=False,
        )
    return dns, sys_ips or sorted(ctl_ips)


def _tcp_layer(
    facts: Facts,
    role: Role,
    host: str,
    ips: list[str],
    is_name: bool,
    dns: _DnsFinding | None,
    obs: list[Observation],
) -> tuple[Outcome | None, bool]:
    """The app's own connections to the addresses it resolved, against the control
    helper's view from outside: (the outcome when every connect failed, whether some
    failed and then worked)."""
    svc, rid = role.service, role.id
    tcp = {(ip, port): rs for (ip, port), rs in facts.tcp.items() if ip in ips}
    for (ip, port), rs in tcp.items():
        for r in rs:
            obs.append(
                Observation(
                    "tcp",
                    svc,
                    rid,
                    host,
                    r is None,
                    ip=ip,
                    port=port,
                    operation="connect",
                    failure=r or "",
                )
            )
    flaky = any(None in rs and any(rs) for rs in tcp.values())
    if not tcp or any(None in rs for rs in tcp.values()):
        return None, flaky
    if dns is not None:
        return dns.outcome(obs), flaky
    _, _, fail = _results(list(tcp.values()))
    fail = fail or "generic_timeout_error"
    ports = sorted({port for _, port in tcp})
    if facts.lossy and fail == "generic_timeout_error":
        return _inconclusive(host, "connect", fail, obs), flaky
    views = [_helper_reaches(facts.control, f"{ip}:{port}", host) for ip, port in tcp]
    target = ips[0] if not is_name else host
    if any(v is True for v in views):
        confirmed, down = True, False
    elif views and all(v is False for v in views):
        confirmed, down = False, True
    else:
        confirmed, down = False, False
    if len(ports) >= 2:
        ev = Evidence(
            "connect", fail, target, "failed on every port tried: " + ", ".join(map(str, ports))
        )
        tech = "ip.blocked"
    else:
        ev, tech = Evidence("connect", fail, target), technique_for("connect", fail)
    if down:
        ev = Evidence(
            ev.operation,
            ev.failure,
            ev.target,
            (ev.detail + "; " if ev.detail else "") + "the control helper cannot reach it either",
        )
    outcome = Outcome(False, ev, None if down else tech, obs, confirmed=confirmed, down=down)
    return outcome, flaky


def _tls_layer(
    facts: Facts,
    role: Role,
    host: str,
    ips: list[str],
    dns: _DnsFinding | None,
    obs: list[Observation],
) -> tuple[Outcome | None, bool]:
    """The app's server name against a harmless one on the same address: (the
    outcome when every handshake failed, whether some failed and then worked)."""
    svc, rid = role.service, role.id
    mine = {
        addr: rs
        for (addr, sni), rs in facts.tls_target.items()
        if sni == host and addr.rsplit(":", 1)[0].strip("[]") in ips
    }
    for addr, rs in mine.items():
        for r in rs:
            obs.append(
                Observation(
                    "tls",
                    svc,
                    rid,
                    host,
                    r is None,
                    ip=addr,
                    operation="tls_handshake",
                    failure=r or "",
                )
            )
    flaky = any(None in rs and any(rs) for rs in mine.values())
    if not mine or any(None in rs for rs in mine.values()):
        return None, flaky
    if dns is not None:
        return dns.outcome(obs), flaky
    _, _, fail = _results(list(mine.values()))
    fail = fail or "generic_timeout_error"
    if facts.lossy and fail == "generic_timeout_error":
        return _inconclusive(host, "tls_handshake", fail, obs), flaky
    control_ok, _, _ = _results([facts.tls_control.get(a, []) for a in mine])
    views = [_helper(facts.control, "tls", f"{a} {host}") for a in mine]
    outside_ok = any(v is True for v in views)
    outside_bad = bool(views) and all(v is False for v in views)
    tech = technique_for("tls_handshake", fail)
    detail = ""
    if fail in _CERT_FAILURES:
        # Outside, the real server presents a valid certificate: the one seen
        # here was put in the path.
        confirmed, down = outside_ok, outside_bad
        if outside_ok:
            detail = "seen from outside the network, the server's certificate is valid"
    elif control_ok:
        confirmed, down = True, False
        detail = "the same address completes a handshake for a harmless server name"
    else:
        # The harmless name fails too: nothing was isolated. From outside the
        # server may still answer (then it is not down), but that alone does
        # not say what the network does.
        confirmed, down = False, outside_bad
    if down:
        detail = "the control helper cannot complete it either"
    ev = Evidence("tls_handshake", fail, host, detail)
    outcome = Outcome(False, ev, None if down else tech, obs, confirmed=confirmed, down=down)
    return outcome, flaky


def _http_layer(
    facts: Facts,
    role: Role,
    url: str,
    request_failures: Sequence[str | None],
    dns: _DnsFinding | None,
    obs: list[Observation],
) -> tuple[Outcome | None, bool]:
    """The request after a working handshake: (the outcome when every attempt failed,
    whether some failed and then worked)."""
    svc, rid = role.service, role.id
    for r in request_failures:
        obs.append(
            Observation("http", svc, rid, url, r is None, operation="http_request", failure=r or "")
        )
    fails = [r for r in request_failures if r is not None]
    if len(fails) != len(request_failures):
        return None, bool(fails)
    if dns is not None:
        return dns.outcome(obs), False
    if facts.lossy and fails[-1] == "generic_timeout_error":
        return _inconclusive(url, "http_request", fails[-1], obs), False
    outcome = Outcome(
        False,
        Evidence("http_request", fails[-1], url),
        technique_for("http_request", fails[-1]),
        obs,
    )
    return outcome, False
