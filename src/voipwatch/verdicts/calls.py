"""The call plane (``voipwatch_call``): STUN/TURN, UDP, SIP and media, with controls.

Each exchange with an app's server or the test helper is paired with a control that
changes one variable (voip_probing notes §2.7):

* STUN to the helper on the app's port, against another payload on the same port —
  STUN filtered by protocol (``stun.dpi``) rather than the port;
* STUN and other bytes on the app's port, against other bytes on a random high port
  — the port is blocked (``udp.port``, or ``udp.icmp`` when a router rejects); STUN
  there proves nothing under a STUN filter, which kills it on every port;
* the app's own relay, against the helper on the same port — the relay's address is
  blocked (``ip.blocked``), confirmed when the control helper's STUN reaches it from
  outside; when it does not, or the relay's own host refuses, it is ``down``;
* a control that did not work isolates nothing: a helper port its own host refused
  (the ICMP error's sender is the helper, not a router) is ``failure`` ("helper did
  not answer on udp/443"), and so is every role when the helper answered nothing;
* a DTLS handshake or a SIP request, against other bytes on the same port —
  ``dtls.dpi``, ``sip.dpi``; SIP and other bytes both dropped — ``sip.port``;
* a SIP server (``target = "app"``), against the helper on the same port and
  transport — the server's address is blocked (``ip.blocked``);
* an RTP-shaped stream against the same bytes bit-inverted (Wehe's method) —
  ``media.dpi`` only when they differ and the difference is not the path's loss;
* a download with an app's server name against a harmless one — throttling;
* innocent bytes on one 3-tuple before and after a STUN trigger (``x_residual``,
  :mod:`voipwatch.verdicts.residual`) — ``residual``: when shown, it names the
  STUN and UDP failures of every role, which the trigger's lasting block explains.

A lossy path is not a censor: a UDP exchange that met silence was made twice, and
once the measurement shows loss, a technique stands only on two lost exchanges or
more that agree, and only when the path's own loss (measured on the exchanges that
were answered) would lose all their datagrams less than once in a thousand; the rest
is ``degraded.loss``, never a block.

Pure: a decoded measurement in, role verdicts out.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from voipwatch.catalog import Catalog, Role
from voipwatch.ooni.failures import normalise
from voipwatch.ooni.identity import input_str
from voipwatch.ooni.model import Exchange, Measurement, MediaAB, ThroughputAB, failure_str
from voipwatch.verdicts.evidence import measurement_status
from voipwatch.verdicts.residual import EXPLAINS, ResidualFinding, judge_residual
from voipwatch.verdicts.types import (
    Evidence,
    Layer,
    Observation,
    RoleStatus,
    RoleVerdict,
    Ruling,
)

#: A throttled download runs at less than this share of the control's rate...
THROTTLE_RATIO = 0.25
#: ...and below this rate (kbit/s). Throttles are drastic (Russia's, 2021: about
#: 130 kbit/s); two fast downloads differing by chance are not one.
THROTTLE_CEILING = 20_000.0
#: Loss on both media streams above this is the path's, not a censor's choice.
LOSSY = 0.05
#: On a lossy path, a finding stands when chance (the path's loss, every datagram of
#: its lost exchanges lost) would explain it less often than this.
CHANCE = 0.001
#: When a role's findings name several techniques as often, the verdict names the
#: first of this order: the narrowest cause first (one address, then one port, then
#: one protocol, then all of UDP), since the broader ones are what a narrower block
#: also looks like from a port it covers. Techniques not listed come after, by name.
TIE_ORDER: tuple[str, ...] = (
    "residual",
    "ip.blocked",
    "udp.icmp",
    "udp.port",
    "sip.port",
    "stun.dpi",
    "dtls.dpi",
    "sip.dpi",
    "udp.blocked",
    "udp.timeout",
)


class _Unit:
    """One exchange and its retries: it worked if any attempt did."""

    __slots__ = ("closed", "failures", "first", "lost", "ok", "retried", "sent", "silent")

    def __init__(self, first: Exchange) -> None:
        self.first = first
        self.ok = False
        #: It worked only after a retransmission (its first datagram was lost).
        self.retried = False
        #: The destination itself refused it (ICMP from the target's address):
        #: nothing listens on the port there, whatever the path does.
        self.closed = False
        self.failures: list[str] = []
        #: Datagrams sent (first transmissions and retransmissions), and how many of
        #: them went unanswered: the path's loss, where the exchange was answered.
        self.sent = 0
        self.lost = 0
        #: Datagrams of the exchanges that met nothing but silence.
        self.silent = 0

    def add(self, e: Exchange) -> None:
        tries = (e.attempt or 0) + 1
        self.sent += tries
        if e.success:
            self.ok = True
            self.retried = self.retried or tries > 1
            self.lost += tries - 1
        else:
            failure = normalise(failure_str(e.failure) or "generic_timeout_error")
            self.failures.append(failure)
            self.closed = self.closed or getattr(e, "rejected_by", None) == "target"
            if failure == "generic_timeout_error":
                self.lost += tries
                self.silent += tries

    @property
    def failure(self) -> str:
        return self.failures[-1] if self.failures else "generic_timeout_error"

    @property
    def flaky(self) -> bool:
        return self.ok and bool(self.failures)


def _units(exchanges: Iterable[Exchange]) -> list[_Unit]:
    units: dict[tuple[str | int | None, ...], _Unit] = {}
    for e in exchanges:
        key = (e.target, e.host, e.address, e.port, e.transport, e.payload, e.control)
        u = units.get(key)
        if u is None:
            u = units[key] = _Unit(e)
        u.add(e)
    return list(units.values())


def _lossy(units: list[_Unit]) -> bool:
    """The path loses packets: a UDP exchange worked only after a retransmission, or
    only the second time it was made."""
    return any((u.retried or u.flaky) and u.first.transport == "udp" for u in units)


def _path_loss(units: list[_Unit]) -> float:
    """The share of datagrams the path lost, counted on the UDP exchanges that were
    answered (an exchange never answered may be a censor's, so it is not counted)."""
    answered = [u for u in units if u.ok and u.first.transport == "udp"]
    sent = sum(u.sent for u in answered)
    return sum(u.lost for u in answered) / sent if sent else 0.0


def _ip(u: _Unit) -> str:
    return (u.first.address or "").rpartition(":")[0]


def _corroborated(
    tech: str, u: _Unit, units: list[_Unit], everything: list[_Unit], loss: float
) -> bool:
    """Whether a finding rests on two lost exchanges or more (the same one made twice
    counts twice), none of their kind working, and the path's ``loss`` would lose all
    their datagrams less often than ``CHANCE`` (a refusal is never the path's loss).

    TCP and TLS retransmit by themselves: their failures are never the path's loss.
    """
    e = u.first
    if e.transport != "udp" or tech == "residual":
        return True
    if tech == "stun.dpi":  # STUN anywhere on the helper, the random port included
        kind = [
            x for x in everything
            if x.first.target == "helper" and x.first.payload == "stun_binding"
            and (x in units or x.first.control == "random_port")
        ]  # fmt: skip
    elif tech in ("udp.port", "udp.icmp") and e.target == "helper":
        kind = [x for x in units if x.first.target == "helper" and x.first.port == e.port]
    elif tech == "udp.blocked":
        kind = [x for x in everything if x.first.target == "helper" and x.first.transport == "udp"]
    elif e.target in ("app", "public"):  # one address: everything sent to it
        kind = [x for x in units if x.first.target == e.target and _ip(x) == _ip(u)]
    else:
        kind = [x for x in units if (x.first.target, x.first.payload) == (e.target, e.payload)]
    if any(x.ok for x in kind) or sum(len(x.failures) for x in kind) < 2:
        return False
    lost = [x for x in kind if not x.ok]
    if any(f != "generic_timeout_error" for x in lost for f in x.failures):
        return True
    return bool(loss ** sum(x.silent for x in lost) < CHANCE)


def _pick(
    units: list[_Unit],
    *,
    target: str,
    payloads: tuple[str, ...],
    control: str = "",
    port: int | None = None,
    transport: str | None = None,
) -> list[_Unit]:
    return [
        u for u in units
        if u.first.target == target
        and u.first.payload in payloads
        and (u.first.control or "") == control
        and (port is None or u.first.port == port)
        and (transport is None or u.first.transport == transport)
    ]  # fmt: skip


def _other_bytes(
    units: list[_Unit], u: _Unit, payloads: tuple[str, ...], *, transport: str | None = None
) -> list[_Unit]:
    """The controls of ``u``: other bytes (``payloads``) sent to the helper on its port,
    and on its ``transport`` when given."""
    return _pick(
        units,
        target="helper",
        payloads=payloads,
        control="same_port_other_payload",
        port=u.first.port,
        transport=transport,
    )


def _ev(u: _Unit, operation: str, detail: str) -> Evidence:
    e = u.first
    return Evidence(operation, u.failure, e.address or f"{e.host}:{e.port}", detail)


def _most_named(findings: list[tuple[str, Evidence, bool]]) -> str:
    """The technique most findings name; a tie goes to one a working control
    confirmed, then to the first in :data:`TIE_ORDER`, then by name. Never by set
    or hash order: re-judging a file must give the same verdict."""
    count: dict[str, int] = {}
    confirmed: dict[str, bool] = {}
    for t, _, c in findings:
        count[t] = count.get(t, 0) + 1
        confirmed[t] = confirmed.get(t, False) or c

    def rank(t: str) -> tuple[int, bool, int, str]:
        order = TIE_ORDER.index(t) if t in TIE_ORDER else len(TIE_ORDER)
        return (-count[t], not confirmed[t], order, t)

    return min(count, key=rank)


def _verdict(
    role: Role,
    status: RoleStatus,
    technique: str | None,
    evidence: list[Evidence],
    *,
    confirmed: bool,
    confidence: float,
) -> RoleVerdict:
    return RoleVerdict(
        role.service, role.id, role.plane, status, technique, confidence, evidence, confirmed
    )


#: What judging found: (technique, atom, whether a working control confirmed it).
Finding = tuple[str, Evidence, bool]
_STUN = ("stun_binding",)


class _Judging:
    """One role's exchanges, the measurement's controls, and what judging found."""

    def __init__(
        self, units: list[_Unit], everything: list[_Unit], helper_closed: Iterable[str]
    ) -> None:
        self.units = units
        self.everything = everything
        self.findings: list[Finding] = []
        self.origin: dict[int, _Unit] = {}  # id(atom) -> the exchange it rests on
        self.broken: list[Evidence] = []  # a control that did not work: failure, never a technique
        self.gone: list[Evidence] = []  # the app's own server says nothing listens: down
        self.helper = [u for u in everything if u.first.target == "helper"]
        self.helper_any_ok = any(u.ok for u in self.helper)
        # Another port answers: random bytes there (the control that tells a port block
        # from a protocol filter, since a STUN filter kills STUN on every port) or,
        # in measurements made before it existed, STUN there.
        self.random_ok = any(u.ok for u in self.helper if u.first.control == "random_port")
        # Helper ports whose own host refused: a broken control, not a censor.
        self.closed = {(u.first.transport, u.first.port) for u in self.helper if u.closed}
        for tp in helper_closed:
            t, _, p = tp.partition("/")
            if p.isdigit():
                self.closed.add((t, int(p)))

    def ev(self, u: _Unit, operation: str, detail: str) -> Evidence:
        atom = _ev(u, operation, detail)
        self.origin[id(atom)] = u
        return atom

    def find(self, technique: str, u: _Unit, operation: str, detail: str, confirmed: bool) -> None:
        self.findings.append((technique, self.ev(u, operation, detail), confirmed))

    def no_helper(self, u: _Unit) -> None:
        e = u.first
        why = f"helper did not answer on {e.transport}/{e.port}: nothing listens on that port"
        self.broken.append(self.ev(u, u.first.payload or "connect", why))


def judge_exchanges(
    role: Role,
    exchanges: list[Exchange],
    context: list[Exchange] | None = None,
    residual: ResidualFinding | None = None,
    outside: dict[str, bool] | None = None,
    helper_closed: Iterable[str] = (),
) -> RoleVerdict:
    """The verdict on one call-plane role from its exchanges and their controls.

    ``context`` is every exchange of the measurement: whether the helper answers at
    all, or on a random port, is a control for every role. ``residual`` is the run's
    residual check: when it shows residual blocking, it names the role's STUN and
    UDP failures. When the path shows loss (a UDP exchange answered only after a
    retransmission, or only the second time it was made), a finding needs two lost
    exchanges that agree; the others are the path's loss (``degraded.loss``).
    ``outside`` is the control helper's STUN view of the app's servers (``ip:port``
    → answered): a server that fails here while the test server answers on the same
    port is blocked only when it answers outside (``confirmed``); when it does not
    answer there either it is down. ``helper_closed`` (``udp/3478``) names helper
    ports its own host refused anywhere in the run: broken controls.
    """
    units = _units(exchanges)
    if not units:
        return _verdict(role, "unknown", None, [], confirmed=False, confidence=0.0)
    j = _Judging(units, _units(context) if context is not None else units, helper_closed)
    _helper_stun(j)
    _own_stun(j, outside or {})
    _helper_dtls(j)
    _helper_sip(j)
    _app_sip(j)
    if j.findings and residual is not None and residual.shown:
        j.findings = _explained_by_residual(j.findings, residual)
    if j.findings and _lossy(j.everything):
        lost = _set_aside_lost(j)
        if not j.findings:
            why = "lost on a lossy path (other exchanges needed retransmissions): "
            evidence = [msgspec.structs.replace(e, detail=why + e.detail) for _, e, _ in lost]
            return _verdict(
                role, "degraded", "degraded.loss", evidence, confirmed=False, confidence=0.6
            )
    if j.findings:
        return _verdict_of_findings(role, j)
    return _verdict_without_findings(role, j)


def _helper_stun(j: _Judging) -> None:
    """STUN to the helper on the app's port, against other bytes on that port and on
    a random port: STUN filtered, the port blocked, or UDP blocked altogether."""
    for u in _pick(j.units, target="helper", payloads=_STUN, transport="udp"):
        if u.ok:
            continue
        port = u.first.port
        if ("udp", port) in j.closed:
            j.no_helper(u)
            continue
        other = _other_bytes(j.units, u, ("random", "not_sip"))
        if any(o.ok for o in other):
            why = "other bytes on the same port are echoed: STUN itself is filtered"
            j.find("stun.dpi", u, "stun_binding", why, True)
        elif j.random_ok:
            refused = "connection_refused" in u.failures or any(
                "connection_refused" in o.failures for o in other
            )
            why = f"UDP port {port} is blocked: the same server answers on a random port"
            j.find("udp.icmp" if refused else "udp.port", u, "stun_binding", why, True)
        elif j.helper_any_ok:
            why = "UDP fails on every port while the server answers over TCP"
            j.find("udp.blocked", u, "stun_binding", why, True)


def _own_stun(j: _Judging, outside: dict[str, bool]) -> None:
    """STUN to the app's own (or a public) server, against the helper on the same port:
    the server's address blocked, or the server down."""
    own = [
        u
        for target in ("app", "public")
        for u in _pick(j.units, target=target, payloads=(*_STUN, "turn_allocate"), transport="udp")
    ]
    for u in own:
        if u.ok:
            continue
        port = u.first.port
        same = _pick(j.units, target="helper", payloads=_STUN, port=port)
        if u.closed:
            why = f"the server itself answers that nothing listens on udp/{port}"
            j.gone.append(j.ev(u, "stun_binding", why))
        elif any(s.ok for s in same):
            view = outside.get(u.first.address or "")
            if view is False:
                why = "the control helper gets no answer from outside the network either"
                j.gone.append(j.ev(u, "stun_binding", why))
            else:
                why = f"the test server answers STUN on port {port}: this address is blocked"
                if view:
                    why += "; from outside the network it answers"
                j.find("ip.blocked", u, "stun_binding", why, view is True)
        elif ("udp", port) in j.closed:
            j.no_helper(next((s for s in same if s.closed), same[0] if same else u))
        elif not j.helper_any_ok:
            pass  # no control answered: nothing is isolated (the role's failure says so)
        elif not any(t == "stun.dpi" or t.startswith("udp.") for t, _, _ in j.findings):
            tech = "udp.icmp" if u.failure == "connection_refused" else "udp.timeout"
            j.find(tech, u, "stun_binding", "", False)


def _helper_dtls(j: _Judging) -> None:
    """A DTLS handshake to the helper, against other bytes on the same port."""
    for u in _pick(j.units, target="helper", payloads=("dtls_client_hello",)):
        if u.ok:
            continue
        other = _other_bytes(j.units, u, ("random",))
        if any(o.ok for o in other):
            why = "other bytes on the same port are echoed: DTLS handshakes are filtered"
            j.find("dtls.dpi", u, "dtls_handshake", why, True)


def _helper_sip(j: _Judging) -> None:
    """SIP OPTIONS to the helper, against other bytes on the same port and transport."""
    for u in _pick(j.units, target="helper", payloads=("sip_options",)):
        if u.ok:
            continue
        port, transport = u.first.port, u.first.transport
        if (transport, port) in j.closed:
            j.no_helper(u)
            continue
        other = _other_bytes(j.units, u, ("not_sip",), transport=transport)
        if any(o.ok for o in other):
            why = "other bytes on the same port pass: SIP itself is filtered"
            j.find("sip.dpi", u, "sip_options", why, True)
        elif j.random_ok or j.helper_any_ok:
            j.find("sip.port", u, "sip_options", f"nothing passes on {transport} {port}", True)


def _app_sip(j: _Judging) -> None:
    """SIP to a SIP server (``target = "app"``), against the helper on the same port."""
    for u in _pick(j.units, target="app", payloads=("sip_options",)):
        if u.ok:
            continue
        port, transport = u.first.port, u.first.transport
        same = _pick(
            j.units, target="helper", payloads=("sip_options",), port=port, transport=transport
        )
        if any(s.ok for s in same):
            why = f"the test server answers SIP over {transport} {port}: this server is blocked"
            j.find("ip.blocked", u, "sip_options", why, True)
        elif not same:
            j.find("sip.port", u, "sip_options", "no control on this port", False)


def _explained_by_residual(findings: list[Finding], residual: ResidualFinding) -> list[Finding]:
    """Residual blocking shown by the run names the STUN and UDP failures it explains."""
    explained = [f for f in findings if f[0] in EXPLAINS]
    if not explained:
        return findings
    return [
        *(f for f in findings if f[0] not in EXPLAINS),
        *(("residual", ev, True) for ev in residual.evidence),
        *(("residual", ev, True) for _, ev, _ in explained),
    ]


def _set_aside_lost(j: _Judging) -> list[Finding]:
    """On a path that loses packets, one exchange lost three times is chance: a finding
    stands only on two lost exchanges or more that agree, and that the path's loss
    would seldom explain. Keeps those in ``j.findings``; returns the others."""
    kept: list[Finding] = []
    lost: list[Finding] = []
    loss = _path_loss(j.everything)
    for f in j.findings:
        at = j.origin.get(id(f[1]))
        ok = at is None or _corroborated(f[0], at, j.units, j.everything, loss)
        (kept if ok else lost).append(f)
    j.findings = kept
    return lost


def _verdict_of_findings(role: Role, j: _Judging) -> RoleVerdict:
    """The technique most findings name, blocked or (when the role still works some
    way) partial."""
    findings = j.findings
    techs = [t for t, _, _ in findings]
    if "udp.icmp" in techs and set(techs) <= {"udp.icmp", "udp.port"}:
        # A reject seen on any port is how the ports are blocked: the kernel's
        # ICMP rate limit turns some of the rejects into plain timeouts.
        findings = [("udp.icmp" if t == "udp.port" else t, e, c) for t, e, c in findings]
    technique = _most_named(findings)
    evidence = [ev for t, ev, _ in findings if t == technique]
    confirmed = any(c for t, _, c in findings if t == technique)
    # Partial when the role still works some way: its own servers on another port
    # or transport; for a role tested only against the helper (SIP, relays whose
    # addresses are handed out per call), the same protocol on another port or
    # transport (SIP over TCP when UDP fails).
    own = [u for u in j.units if u.first.target in ("app", "public")]
    if own:
        works = [u for u in own if u.ok]
    else:
        works = [
            u
            for u in j.units
            if u.ok
            and not u.first.control
            and u.first.payload in ("stun_binding", "turn_allocate", "sip_options")
        ]
    status: RoleStatus = "partial" if works else "blocked"
    return _verdict(
        role,
        status,
        technique,
        evidence,
        confirmed=confirmed,
        confidence=0.95 if confirmed else 0.6,
    )


def _verdict_without_findings(role: Role, j: _Judging) -> RoleVerdict:
    """No technique isolated: degraded by loss, down, a broken control, or ok."""
    units = j.units
    # Lost, then answered: a full exchange lost and made again, or one answered only
    # after a retransmission. One such exchange is a moment (a busy machine answers
    # late once in a while; a server or a probe stalls a few seconds): loss needs two.
    retried = [u for u in units if u.retried and u.first.transport == "udp"]
    lossy = [u for u in units if u.flaky or u in retried]
    flaky = lossy if len(lossy) >= 2 else []
    if flaky:
        return _verdict(
            role,
            "degraded",
            "degraded.loss",
            [
                j.ev(u, u.first.payload or "connect", "some attempts failed, retries succeeded")
                for u in flaky
            ],
            confirmed=False,
            confidence=0.6,
        )
    failed = [u for u in units if not u.ok]
    if j.gone and not any(u.ok for u in units if u.first.target in ("app", "public")):
        return _verdict(role, "down", None, j.gone, confirmed=False, confidence=0.8)
    own_units = [u for u in units if u.first.target in ("app", "public")]
    if j.broken and not (own_units and all(u.ok for u in own_units)):
        # Its own servers answering would be the role's answer; without it, the
        # broken control leaves the role unjudged.
        return _verdict(role, "failure", None, j.broken, confirmed=False, confidence=0.0)
    if failed and j.helper and not j.helper_any_ok and not any(u.ok for u in units):
        why = "no control answered: the test helper answered nothing, on any port"
        return _verdict(
            role,
            "failure",
            None,
            [j.ev(u, u.first.payload or "connect", why) for u in failed],
            confirmed=False,
            confidence=0.0,
        )
    if failed and not any(u.ok for u in units):
        return _verdict(
            role,
            "unknown",
            None,
            [j.ev(u, "stun_binding", "") for u in failed],
            confirmed=False,
            confidence=0.0,
        )
    return _verdict(role, "ok", None, [], confirmed=False, confidence=0.9)


def judge_media(
    role: Role,
    ab: MediaAB,
    *,
    helper_reachable: bool = False,
    residual: ResidualFinding | None = None,
) -> RoleVerdict:
    """Wehe's A/B: an RTP-shaped stream against the same bytes bit-inverted.

    ``helper_reachable``: the helper answered another exchange of the measurement, so
    two streams lost entirely mean UDP is dropped, not that the helper is gone — or,
    when the residual check shows it, that the original stream's STUN prelude left
    the 3-tuple both streams share blocked.
    """
    o, i = ab.original, ab.inverted
    lo = (o.loss or 0.0) if o is not None else 1.0
    li = (i.loss or 0.0) if i is not None else 1.0
    if lo >= 0.9 and li >= 0.9:
        ev = Evidence(
            "rtp_stream",
            "generic_timeout_error",
            "media A/B",
            f"both streams lost ({lo:.0%}, {li:.0%})",
        )
        if residual is not None and residual.shown:
            evs = [*residual.evidence, ev]
            return _verdict(role, "blocked", "residual", evs, confirmed=True, confidence=0.9)
        if helper_reachable:
            return _verdict(role, "blocked", "udp.blocked", [ev], confirmed=True, confidence=0.9)
        ev = msgspec.structs.replace(
            ev, detail=ev.detail + "; no control answered: the test helper answered nothing"
        )
        return _verdict(role, "failure", None, [ev], confirmed=False, confidence=0.0)
    detail = (
        f"original stream loss {lo:.0%}, bit-inverted {li:.0%}; area {ab.area or 0:.2f}, "
        f"KS p {ab.ks_p if ab.ks_p is not None else float('nan'):.3f}"
    )
    if ab.differentiation == "detected":
        status: RoleStatus = "blocked" if lo >= 0.5 else "degraded"
        ev = Evidence(
            "rtp_stream", "generic_timeout_error" if lo >= 0.5 else "", "media A/B", detail
        )
        return _verdict(role, status, "media.dpi", [ev], confirmed=True, confidence=0.9)
    if lo > LOSSY or li > LOSSY:
        why = "inconclusive: " if ab.differentiation == "inconclusive" else ""
        ev = Evidence("rtp_stream", "", "media A/B", why + detail)
        return _verdict(role, "degraded", "degraded.loss", [ev], confirmed=False, confidence=0.6)
    return _verdict(role, "ok", None, [], confirmed=False, confidence=0.9)


def judge_throughput(role: Role, ab: ThroughputAB) -> RoleVerdict:
    """A download with the app's server name against a harmless one, same server."""
    t, c = ab.target, ab.control
    if t is None or c is None:
        return _verdict(role, "unknown", None, [], confirmed=False, confidence=0.0)
    cf = failure_str(c.failure)
    if cf or not c.rate_kbps:
        # The harmless download is the control: when it fails, nothing is isolated.
        why = "the control download with a harmless name failed too"
        ev = Evidence("download", normalise(cf) if cf else "", ab.control_sni or "", why)
        return _verdict(role, "failure", None, [ev], confirmed=False, confidence=0.0)
    tf = failure_str(t.failure)
    if tf:
        f = normalise(tf)
        ev = Evidence(
            "tls_handshake" if f != "generic_timeout_error" else "download",
            f,
            ab.target_sni or "",
            "the same server, with a harmless name, is reached",
        )
        tech = "tls.reset" if f in ("connection_reset", "eof_error") else "tls.timeout"
        return _verdict(role, "blocked", tech, [ev], confirmed=True, confidence=0.9)
    rate, ctl = t.rate_kbps or 0.0, c.rate_kbps
    if not _throttled(rate, ctl):
        return _verdict(role, "ok", None, [], confirmed=False, confidence=0.9)
    why = (
        f"{rate:.0f} kbit/s with the app's name, {ctl:.0f} kbit/s with a harmless one, "
        "from the same server"
    )
    again = ab.again
    if again is not None:
        t2, c2 = again.target, again.control
        rate2 = (t2.rate_kbps or 0.0) if t2 is not None and not failure_str(t2.failure) else None
        ctl2 = c2.rate_kbps if c2 is not None and not failure_str(c2.failure) else None
        if rate2 is None or not ctl2:
            # The second pair did not complete: the first stands alone, unconfirmed.
            ev = Evidence("download", "", ab.target_sni or "", why + "; made again, incomplete")
            return _verdict(
                role, "degraded", "throttle.policed", [ev], confirmed=False, confidence=0.6
            )
        if not _throttled(rate2, ctl2):
            # One slow download among four is the machine's or the path's moment, not a
            # throttle by name, which slows every download that carries the name.
            return _verdict(role, "ok", None, [], confirmed=False, confidence=0.8)
        why += f"; made again: {rate2:.0f} against {ctl2:.0f} kbit/s"
    ev = Evidence("download", "", ab.target_sni or "", why)
    return _verdict(role, "degraded", "throttle.policed", [ev], confirmed=True, confidence=0.9)


def _throttled(rate: float, control: float) -> bool:
    return rate < THROTTLE_RATIO * control and rate < THROTTLE_CEILING


def judge(m: Measurement, cat: Catalog) -> Ruling:
    tk = m.test_keys
    if tk is None:
        return "failure", [], [], ["no test_keys"]
    notes: list[str] = []
    by_role: dict[str, list[Exchange]] = {}
    observations: list[Observation] = []
    for e in tk.x_exchanges or ():
        if not e.role:
            continue
        by_role.setdefault(e.role, []).append(e)
    verdicts: list[RoleVerdict] = []
    stun_view = tk.x_control.stun if tk.x_control is not None else None
    outside = {a: bool(r.success) and not r.failure for a, r in (stun_view or {}).items()}
    residual = judge_residual(tk.x_residual)
    if residual is not None and residual.outcome == "inconclusive":
        notes.append("the residual-censorship check was inconclusive")
    for role_id, exchanges in by_role.items():
        role = cat.roles.get(role_id)
        if role is None:
            notes.append(f"exchanges for a role the catalogue does not know: {role_id}")
            continue
        verdicts.append(
            judge_exchanges(
                role,
                exchanges,
                list(tk.x_exchanges or ()),
                residual,
                outside,
                tk.x_helper_closed or (),
            )
        )
        for e in exchanges:
            payload = e.payload or ""
            layer: Layer = "udp"
            if payload.startswith(("sip", "not_sip")):
                layer = "sip"
            elif payload.startswith(("stun", "turn")):
                layer = "stun"
            f = failure_str(e.failure)
            observations.append(Observation(
                layer, role.service, role.id, e.host or e.address or "", bool(e.success),
                ip=(e.address or "").rpartition(":")[0], port=e.port or 0,
                operation=e.payload or "", failure=normalise(f) if f else "",
                detail=e.control or e.target or ""))  # fmt: skip
    if tk.x_media_ab is not None:
        reachable = any(
            e.success and e.target == "helper" for e in tk.x_exchanges or ()
        )  # fmt: skip
        verdicts.append(
            judge_media(
                cat.roles["webrtc/media"],
                tk.x_media_ab,
                helper_reachable=reachable,
                residual=residual,
            )
        )
    ab = tk.x_throughput_ab
    if ab is not None and ab.target_sni:
        role = cat.role_for_host(ab.target_sni)
        if role is not None:
            verdicts.append(judge_throughput(role, ab))
    if not verdicts:
        return "failure", [], observations, [*notes, f"no call-plane test for {input_str(m.input)}"]
    return measurement_status(verdicts), verdicts, observations, notes
