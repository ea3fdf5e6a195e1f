"""The outcome of each endpoint, and the role verdict of its endpoints' outcomes.

From the facts :func:`voipwatch.verdicts.facts.collect` indexed, an endpoint is
traced through DNS, then TCP, then TLS, then HTTP, so a failed HTTPS request is put
down to the layer that failed first and named by the evidence atom of that layer.
voipwatch's own measurements, which carry controls, are traced by
:mod:`voipwatch.verdicts.controlled`. Pure functions; no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from urllib.parse import urlsplit

from voipwatch.catalog import Catalog, Role
from voipwatch.ooni import fingerprints
from voipwatch.ooni.failures import normalise, operation_of
from voipwatch.ooni.fingerprints import Fingerprint
from voipwatch.verdicts import proof, rules
from voipwatch.verdicts.controlled import probe_outcome
from voipwatch.verdicts.facts import INCONSISTENT, Facts, Outcome, is_bogon, is_ip
from voipwatch.verdicts.techniques import TECHNIQUES, technique_for
from voipwatch.verdicts.types import (
    Evidence,
    MeasurementStatus,
    Observation,
    RoleStatus,
    RoleVerdict,
)

#: No answer is a known false positive (most names): shared, never built per call.
_NONE: frozenset[str] = frozenset()


def atom(
    operation: str, failure: str, target: str, detail: str = "", *, rule: str = ""
) -> tuple[Evidence, str]:
    ev = Evidence(operation, failure, target, detail, rule=rule)
    return ev, technique_for(operation, failure)


def fingerprint_outcome(
    operation: str,
    failure: str,
    target: str,
    detail: str,
    fp: Fingerprint,
    facts: Facts,
    observations: list[Observation],
) -> Outcome:
    """A failed endpoint whose answer matched ``fp``: confirmed when it is a censor's
    of the probe's country, else suspected with the fingerprint named."""
    ev, tech, proven = proof.fingerprinted(operation, failure, target, detail, fp, facts.cc)
    return Outcome(False, ev, tech, observations, confirmed=proven)


def dns_fingerprints(facts: Facts, host: str) -> list[tuple[str, Fingerprint]]:
    """The answers for ``host`` that match a fingerprint (see
    :func:`voipwatch.verdicts.proof.answer_fingerprints`)."""
    found = facts.dns_matches.get(host)
    if found is None:
        d = facts.dns.get(host)
        if d is None or facts.fingerprints is None or not d.suspect:
            return []
        answers = [ip for ip, _ in d.answers] + d.cnames
        found = facts.dns_matches[host] = proof.answer_fingerprints(
            facts.fingerprints, answers, facts.cc
        )
    return found


def http_fingerprint(
    facts: Facts, url: str, *, scopes: tuple[str, ...] | None = None
) -> Fingerprint | None:
    """The fingerprint a response to ``url`` matched (see
    :func:`voipwatch.verdicts.proof.page_fingerprint`)."""
    responses = facts.responses.get(url)
    if not responses or facts.fingerprints is None:
        return None  # nothing to match: most URLs (collect keeps plain-HTTP pages only)
    return proof.page_fingerprint(facts.fingerprints, responses, url, facts.cc, scopes=scopes)


def dns_outcome(
    facts: Facts, host: str, role: Role, *, check_owner: bool = True
) -> tuple[Outcome | None, list[Observation]]:
    """The DNS layer for ``host``: a failure, a bogon, an off-network answer, or fine.

    Returns ``(None, obs)`` when DNS worked (or was not measured) and an
    :class:`Outcome` when DNS itself is the evidence.
    """
    d = facts.dns.get(host)
    if d is None:
        return None, []
    svc, rid = role.service, role.id
    if d.failure:
        ev, tech = atom("resolve", d.failure, host, rule=rules.DNS_FAILURE)
        obs = Observation("dns", svc, rid, host, False, operation="resolve", failure=d.failure)
        return Outcome(False, ev, tech, [obs]), [obs]
    # Only a name with an answer that may match a fingerprint is matched (see collect).
    found = dns_fingerprints(facts, host) if d.suspect else None
    harmless: frozenset[str] | set[str] = _NONE
    matched = None
    if found:
        harmless = {a for a, fp in found if fp.scope == fingerprints.FALSE_POSITIVE}
        matched = found[0] if found[0][1].scope != fingerprints.FALSE_POSITIVE else None
    obs_list: list[Observation] = []
    add = obs_list.append
    bogus: tuple[str, str] | None = None
    routable, down = facts.routable, role.down_answers
    owners = role.owner_asns if check_owner else None
    for ip, asn in d.answers:
        if ip in harmless or ip in down:
            failure = ""
        elif is_bogon(ip, routable):
            failure = "dns_bogon_error"
            if bogus is None:
                bogus = (ip, failure)
        elif owners and asn and asn not in owners:
            failure = INCONSISTENT
        else:
            failure = ""
        # Positional: the fields in Observation's order (a hot loop).
        add(Observation("dns", svc, rid, host, not failure, ip, 0, "resolve", failure,
                        f"AS{asn}" if asn else ""))  # fmt: skip
    if matched is not None:
        answer, fp = matched
        failure = "dns_bogon_error" if is_bogon(answer, facts.routable) else INCONSISTENT
        detail = f"answer {answer}"
        return fingerprint_outcome("resolve", failure, host, detail, fp, facts, obs_list), obs_list
    if bogus is not None:
        ev, tech = atom(
            "resolve", bogus[1], host, f"answer {bogus[0]} is not routable", rule=rules.DNS_BOGON
        )
        return Outcome(False, ev, tech, obs_list), obs_list
    return None, obs_list


def _inconsistent(obs: list[Observation]) -> Observation | None:
    for o in obs:
        if o.failure == INCONSISTENT:
            return o
    return None


def _incons_detail(o: Observation, role: Role) -> str:
    owners = ", ".join(f"AS{a}" for a in role.owner_asns)
    return f"answer {o.ip} in {o.detail or 'an unknown network'}, outside {owners}"


def tcp_observations(facts: Facts, ips: list[str], role: Role, host: str) -> list[Observation]:
    """The app's connects to ``ips`` (each address once, its ports in the order tried)."""
    out: list[Observation] = []
    svc, rid, by_ip = role.service, role.id, facts.tcp_by_ip
    # An address may be answered twice (A and ANY).
    for ip in dict.fromkeys(ips) if len(ips) > 1 else ips:
        attempts = by_ip.get(ip)
        if attempts:
            target = host or ip
            out += [
                Observation("tcp", svc, rid, target, fail is None, ip, port, "connect", fail or "")
                for port, fail in attempts
            ]
    return out


def endpoint_outcome(
    facts: Facts,
    role: Role,
    *,
    host: str,
    request_failure: str | None = None,
    url: str | None = None,
    status_code: int | None = None,
    expect_tls: bool = True,
    request_failures: Sequence[str | None] = (),
) -> Outcome:
    """Trace one endpoint through DNS → TCP → TLS → HTTP and say where it failed.

    ``request_failure`` is the failure of the request made to it (if one was); the
    layers before it tell which operation that failure belongs to.
    """
    if facts.probe:
        attempts = list(request_failures) or ([request_failure] if url is not None else [])
        return probe_outcome(
            facts,
            role,
            host=host,
            url=url,
            request_failures=attempts,
            expect_tls=expect_tls,
            routable=facts.routable,
        )
    if request_failures:
        fails = [f for f in request_failures if f is not None]
        request_failure = fails[-1] if len(fails) == len(request_failures) else None
    dns, dns_obs = dns_outcome(facts, host, role)
    if dns is not None:
        return dns
    d = facts.dns.get(host)
    ips = [ip for ip, _ in d.answers] if d is not None else []
    if not ips:
        ips = facts.ips_first_for(host) or ([host] if is_ip(host) else [])
    tcp_obs = tcp_observations(facts, ips, role, host)
    obs = dns_obs + tcp_obs
    tcp_fails = [o for o in tcp_obs if not o.ok]
    tcp_oks = len(tcp_fails) < len(tcp_obs)
    tls = facts.tls_by_name.get(host)
    if tls:
        tls_fails = [f for f in tls if f]
        tls_oks = any(not f for f in tls)
        svc, rid = role.service, role.id
        obs += [
            Observation("tls", svc, rid, host, f is None, "", 0, "tls_handshake", f or "")
            for f in tls
        ]
    else:
        tls_fails, tls_oks = [], False
    failure = normalise(request_failure) if request_failure else None
    if url is not None:
        obs.append(
            Observation(
                "http",
                role.service,
                role.id,
                url,
                failure is None,
                operation="http_request",
                failure=failure or "",
                detail=str(status_code) if status_code else "",
            )
        )
    # Only the DNS layer finds an answer off-network, unless (odd data) another
    # layer's failure reads the same: then every observation is searched, in order.
    incons = _inconsistent(dns_obs)
    if incons is None and (facts.odd_failures or failure == INCONSISTENT):
        incons = _inconsistent(obs)
    if incons is not None and not expect_tls and url is None:
        # A bare TCP connect to an off-network answer proves nothing: a sinkhole
        # accepts connections too. Without TLS to vouch for the server, the answer
        # itself is the evidence.
        ev, tech = atom(
            "resolve",
            "dns_inconsistent_answer",
            host,
            _incons_detail(incons, role),
            rule=rules.DNS_INCONSISTENT,
        )
        return Outcome(False, ev, tech, obs)
    if failure is None and url is not None:
        page = http_fingerprint(facts, url)
        if page is not None and page.scope != fingerprints.FALSE_POSITIVE:
            detail = "the response is a block page"
            return fingerprint_outcome(
                "http_request", "http_blockpage", url, detail, page, facts, obs
            )
        return Outcome(True, observations=obs)
    if url is None and not tcp_fails and not tls_fails:
        return Outcome(True if (tcp_oks or tls_oks or obs) else None, observations=obs)
    # Which layer failed first?
    if tcp_fails and not tcp_oks:
        fail = tcp_fails[-1].failure
        op = "connect"
    elif tls_fails and not tls_oks and expect_tls:
        fail = tls_fails[-1]
        op = "tls_handshake"
    elif failure is not None:
        fail = failure
        op = operation_of(failure)
        if op == "connect" and tcp_oks:
            op = "http_request"
        if (
            op == "http_request"
            and expect_tls
            and url
            and url.startswith("https")
            and not tls_oks
            and not facts.tls_by_name
        ):
            # No handshake recorded (legacy data): a reset or timeout on an HTTPS
            # request most often happens during the handshake.
            op = (
                "tls_handshake"
                if fail in ("connection_reset", "eof_error", "generic_timeout_error")
                else op
            )
    else:
        return Outcome(True, observations=obs)
    if incons is not None and op in ("connect", "tls_handshake"):
        ev, tech = atom(
            "resolve",
            "dns_inconsistent_answer",
            host,
            f"{_incons_detail(incons, role)}; then {op} failed with {fail}",
            rule=rules.DNS_INCONSISTENT,
        )
        return Outcome(False, ev, tech, obs)
    target = url if op == "http_request" and url else host
    ports = sorted({o.port for o in tcp_fails})
    if op == "connect" and len(ports) >= 2:
        # Every port tried on the same addresses failed: the addresses are blocked.
        ev = Evidence(
            op,
            fail,
            target,
            "failed on every port tried: " + ", ".join(map(str, ports)),
            rule=rules.EVERY_PORT,
        )
        return Outcome(False, ev, "ip.blocked", obs)
    ev, tech = atom(op, fail, target, rule=rules.FIRST_FAILURE)
    return Outcome(False, ev, tech, obs)


@functools.lru_cache(maxsize=4096)
def url_host(url: str) -> str:
    """The lower-case host of ``url`` (cached: the same URLs recur in every measurement)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def combine(
    role: Role,
    outcomes: list[Outcome],
    *,
    down: bool = False,
) -> RoleVerdict:
    """A role verdict from its endpoints' outcomes, by the role's combination rule.

    ``any_of`` roles are pools: all failed is ``blocked``, some is ``partial``.
    ``all_of`` roles need each endpoint: one failed among working ones is
    ``partial`` too, because the app then works in part (a missing CDN, say).
    Endpoints whose target is down (the control helper cannot reach them either)
    make the role ``down``, not blocked; endpoints that worked only on a retry make
    it ``degraded``.
    """
    svc, rid, plane = role.service, role.id, role.plane
    measured = [o for o in outcomes if o.ok is not None]
    if not measured:
        return RoleVerdict(svc, rid, plane, "unknown", None, 0.0, [])
    failed = [o for o in measured if o.ok is False]
    blocked = [o for o in failed if not o.down]
    downs = [o for o in failed if o.down]
    if not failed:
        flaky = [o for o in measured if o.degraded]
        if flaky:
            ev = [o.evidence for o in flaky if o.evidence is not None]
            return RoleVerdict(svc, rid, plane, "degraded", "degraded.loss", 0.6, ev)
        return RoleVerdict(svc, rid, plane, "ok", None, 0.9, [])
    if not blocked or down:
        ev = [o.evidence for o in (downs or failed) if o.evidence is not None]
        return RoleVerdict(svc, rid, plane, "down", None, 0.8, ev)
    evidence = [o.evidence for o in blocked if o.evidence is not None]
    techs = [o.technique for o in blocked if o.technique]
    status: RoleStatus = "blocked" if len(blocked) == len(measured) else "partial"
    # The technique most endpoints point to; ties go to the most specific evidence,
    # then to the name, so that no tie is left to the order of a set.
    technique = (
        min(dict.fromkeys(techs), key=lambda t: (-techs.count(t), -_confidence(t), t))
        if techs
        else None
    )
    confirmed = any(o.confirmed for o in blocked if o.technique == technique)
    conf = 0.95 if confirmed else (_confidence(technique) if technique else 0.5)
    if status == "partial":
        conf *= 0.8
    return RoleVerdict(svc, rid, plane, status, technique, round(conf, 2), evidence, confirmed)


def _confidence(technique: str) -> float:
    t = TECHNIQUES.get(technique)
    return t.confidence if t is not None else 0.5


def role(cat: Catalog, role_id: str) -> Role:
    return cat.roles[role_id]


def measurement_status(verdicts: list[RoleVerdict]) -> MeasurementStatus:
    """OONI's measurement status from role verdicts.

    ``anomaly`` when any role is blocked, partial or degraded; ``confirmed`` when a
    blocked role's technique was isolated (by a control on voipwatch's probe, by a
    censor's fingerprint on OONI's data); ``failure`` when nothing could be judged. A
    role that is ``down`` (the service itself is out) is not a sign of blocking.
    """
    judged = [v for v in verdicts if v.status not in ("unknown", "failure")]
    if not judged:
        return "failure"
    # Loss alone is a bad network, not a sign of blocking; throttling is.
    bad = [
        v
        for v in judged
        if v.status in ("blocked", "partial")
        or (v.status == "degraded" and v.technique != "degraded.loss")
    ]
    if not bad:
        return "ok"
    if any(v.status == "blocked" and v.confirmed for v in bad):
        return "confirmed"
    return "anomaly"


def unusable(verdicts: list[RoleVerdict]) -> list[RoleVerdict]:
    """Mark every role ``failure``: the measurement cannot be trusted as a whole."""
    return [
        RoleVerdict(v.service, v.role, v.plane, "failure", None, 0.0, v.evidence) for v in verdicts
    ]


def version_tuple(v: str | None) -> tuple[int, ...]:
    """``"0.2.3"`` → ``(0, 2, 3)``; unparsable parts count as 0."""
    out: list[int] = []
    for part in (v or "0").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)
