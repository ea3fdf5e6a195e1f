"""OONI's circumvention tests: is the tool reachable and working on this network?

Specs (https://github.com/ooni/spec/tree/master/nettests): ts-015 psiphon, ts-016
vanilla_tor, ts-023 tor, ts-026 riseupvpn, ts-030 torsf (Tor over Snowflake),
ts-040 openvpn. Their verdicts are on the ``circumvention`` plane, one role per part
of the tool (catalogue services ``tor``, ``psiphon``, ``riseupvpn``, ``openvpn``).

None of these tests has a control, so a tool that failed is an ``anomaly``, never
``confirmed``. A technique is named only where the data shows the layer that failed
(a Tor target's TCP connect or TLS handshake, a VPN's handshake after its connection
opened); a tool that merely did not finish starting names none.
"""

from __future__ import annotations

from typing import Final

from voipwatch.catalog import Catalog, Role
from voipwatch.ooni.failures import normalise, operation_of
from voipwatch.ooni.model import Measurement, TestKeys, TorTarget, failure_str
from voipwatch.verdicts import rules
from voipwatch.verdicts.evidence import atom, measurement_status, unusable
from voipwatch.verdicts.facts import Outcome
from voipwatch.verdicts.techniques import TECHNIQUES, technique_for
from voipwatch.verdicts.types import (
    Evidence,
    Layer,
    Observation,
    RoleStatus,
    RoleVerdict,
    Ruling,
)

#: tor (ts-023): the role each target protocol tests.
TOR_ROLES: Final = {
    "or_port": "tor/relays",
    "or_port_dirauth": "tor/relays",
    "dir_port": "tor/directory",
    "obfs4": "tor/obfs4",
}
#: A Tor pool (relays, authorities, bridges) counts as blocked when every target
#: failed and as partial when more than this share failed. Fewer is routine (a relay
#: or an authority out), the pool still works: OONI's fastpath draws the same line.
TOR_PARTIAL_SHARE: Final = 0.5
#: Confidence of a verdict with no technique (a tool that did not start): the test
#: has no control, and a tool's own servers fail too.
NO_TECHNIQUE_CONFIDENCE: Final = 0.5
OK_CONFIDENCE: Final = 0.9
#: The layer of a Tor target's failed operation; another operation names no technique.
_TARGET_LAYER: Final[dict[str, Layer]] = {
    "connect": "tcp",
    "tls_handshake": "tls",
    "http_request": "http",
}


def _verdict(role: Role, ok: bool, evidence: list[Evidence], technique: str | None) -> RoleVerdict:
    if ok:
        return RoleVerdict(role.service, role.id, role.plane, "ok", None, OK_CONFIDENCE, evidence)
    conf = _confidence(technique)
    return RoleVerdict(role.service, role.id, role.plane, "blocked", technique, conf, evidence)


def _confidence(technique: str | None) -> float:
    t = TECHNIQUES.get(technique or "")
    return t.confidence if t is not None else NO_TECHNIQUE_CONFIDENCE


def _target_outcome(t: TorTarget, rid: str) -> Outcome | None:
    """One Tor target: None when it did not run (OONI writes ``false``)."""
    if t.failure is False:
        return None
    address = t.target_address or ""
    fail = failure_str(t.failure)
    if fail is None:
        op = "http_request" if t.target_protocol == "dir_port" else "connect"
        ok = Observation(_TARGET_LAYER[op], "tor", rid, address, True, operation=op)
        return Outcome(True, observations=[ok])
    # The layer that failed: the target's own records first, the protocol's request last.
    op = ""
    if any(failure_str(c.status.failure if c.status else None) for c in t.tcp_connect or ()):
        op = "connect"
    elif any(failure_str(h.failure) for h in t.tls_handshakes or ()):
        op = "tls_handshake"
    # dir_port failures read "Get http://…/consensus.z: eof_error".
    f = normalise(fail.rsplit(": ", 1)[-1])
    if not op:
        guessed = operation_of(f)
        op = "http_request" if t.target_protocol == "dir_port" else guessed
    name = f" ({t.target_name})" if t.target_name else ""
    ev, tech = atom(op, f, address, f"{t.target_protocol or '?'}{name}", rule=rules.TOR_TARGETS)
    obs = Observation(
        _TARGET_LAYER.get(op, "tcp"), "tor", rid, address, False, operation=op, failure=f
    )
    return Outcome(False, ev, tech if op in _TARGET_LAYER else None, [obs])


def _pool(role: Role, outcomes: list[Outcome]) -> RoleVerdict:
    failed = [o for o in outcomes if o.ok is False]
    evidence = [o.evidence for o in failed if o.evidence is not None]
    if not failed:
        return _verdict(role, True, [], None)
    share = len(failed) / len(outcomes)
    if share <= TOR_PARTIAL_SHARE:
        # Kept as evidence, so a reader sees which target failed, but not a sign.
        return _verdict(role, True, evidence, None)
    techs = [o.technique for o in failed if o.technique]
    technique = min(set(techs), key=lambda t: (-techs.count(t), t)) if techs else None
    v = _verdict(role, False, evidence, technique)
    if share < 1:
        return RoleVerdict(
            v.service, v.role, v.plane, "partial", technique, round(v.confidence * 0.8, 2), evidence
        )
    return v


def judge_tor(m: Measurement, cat: Catalog) -> Ruling:
    """ts-023: TCP/TLS to relays' and authorities' OR ports, HTTP to their directory
    ports, obfs4 handshakes with Tor Browser's default bridges."""
    tk = m.test_keys
    if tk is None or not tk.targets:
        return "failure", [], [], ["no Tor targets recorded"]
    if isinstance(tk.targets, list):
        why = "targets as a list (test_version 0.0.1 of early 2020), unscored by OONI too"
        return "failure", [], [], [f"unusable: {why}"]
    by_role: dict[str, list[Outcome]] = {}
    observations: list[Observation] = []
    for _, target in sorted(tk.targets.items()):
        rid = TOR_ROLES.get(target.target_protocol or "")
        outcome = None if rid is None else _target_outcome(target, rid)
        if rid is None or outcome is None:
            continue
        by_role.setdefault(rid, []).append(outcome)
        observations.extend(outcome.observations)
    verdicts = [_pool(cat.roles[rid], outs) for rid, outs in sorted(by_role.items())]
    if not verdicts:
        return "failure", [], observations, ["no Tor target ran"]
    return measurement_status(verdicts), verdicts, observations, []


def _bootstrap(
    role: Role, m: Measurement, tool: str, *, started: bool, fail: str | None, detail: str
) -> RoleVerdict:
    if fail is None and started:
        return _verdict(role, True, [], None)
    f = normalise(fail) if fail else "bootstrap_incomplete"
    target = (m.test_keys.remote if m.test_keys is not None else None) or role.id
    ev = Evidence(f"{tool}_bootstrap", f, target, detail, rule=rules.TOOL_BOOTSTRAP)
    return _verdict(role, False, [ev], None)


def _progress(tk: TestKeys) -> str:
    if tk.tor_progress is None:
        return ""
    tag = f" ({tk.tor_progress_tag}: {tk.tor_progress_summary})" if tk.tor_progress_tag else ""
    return f"bootstrap stopped at {tk.tor_progress:g}%{tag}"


def _tor_done(tk: TestKeys) -> bool:
    logs = tk.tor_logs or ()
    return (
        tk.success is True
        or (tk.tor_progress or 0) >= 100
        or any("Bootstrapped 100%" in line for line in logs)
    )


def judge_vanilla_tor(m: Measurement, cat: Catalog) -> Ruling:
    """ts-016: start tor with no bridge and wait for it to bootstrap."""
    tk = m.test_keys
    if tk is None or (tk.tor_logs is None and tk.success is None and tk.tor_progress is None):
        return "failure", [], [], ["no tor bootstrap record (OONI does not score these either)"]
    done = _tor_done(tk)
    v = _bootstrap(
        cat.roles["tor/relays"],
        m,
        "tor",
        started=done,
        fail=None if done else failure_str(tk.failure),
        detail=_progress(tk),
    )
    return measurement_status([v]), [v], [], []


def torsf_discard_reason(m: Measurement) -> str | None:
    """Why OONI's fastpath (``score_torsf``) discards a torsf measurement, if it does."""
    name = m.software_name or ""
    if m.software_version == "3.8.3" and name.startswith("ooniprobe-android"):
        return "OONI discards torsf runs of ooniprobe-android 3.8.3 (ooni/ooni.org#772)"
    return None


def judge_torsf(m: Measurement, cat: Catalog) -> Ruling:
    """ts-030: bootstrap tor over Snowflake (a WebRTC proxy reached through a broker)."""
    tk = m.test_keys
    if tk is None:
        return "failure", [], [], ["no test_keys"]
    fail = failure_str(tk.failure)
    v = _bootstrap(
        cat.roles["tor/snowflake"],
        m,
        "snowflake",
        started=fail is None,
        fail=fail,
        detail=_progress(tk),
    )
    reason = torsf_discard_reason(m)
    if reason:
        return "failure", unusable([v]), [], [f"unusable: {reason}"]
    return measurement_status([v]), [v], [], []


def judge_psiphon(m: Measurement, cat: Catalog) -> Ruling:
    """ts-015: start Psiphon's tunnel, then fetch a page through it."""
    tk = m.test_keys
    if tk is None:
        return "failure", [], [], ["no test_keys"]
    fail = failure_str(tk.failure)
    boot = tk.bootstrap_time or 0.0
    if fail is None and boot <= 0:
        return "failure", [], [], ["no failure and no bootstrap time: an invalid run"]
    detail = (
        f"the tunnel started in {boot:.1f} s, then the request through it failed"
        if boot > 0
        else "the tunnel did not start"
    )
    v = _bootstrap(
        cat.roles["psiphon/tunnel"], m, "psiphon", started=boot > 0, fail=fail, detail=detail
    )
    return measurement_status([v]), [v], [], []


def judge_openvpn(m: Measurement, cat: Catalog) -> Ruling:
    """ts-040: connect to a provider's OpenVPN server, handshake, ping and fetch through it."""
    tk = m.test_keys
    if tk is None or tk.success is None:
        return "failure", [], [], ["no success key (OONI does not score these either)"]
    role = cat.roles["openvpn/tunnel"]
    target = tk.remote or (tk.provider or role.id)
    if tk.success:
        return "ok", [_verdict(role, True, [], None)], [], []
    f = normalise(failure_str(tk.failure) or "unknown_failure")
    # The connect's own record when there is one (a list since the 2024 spec; the
    # single object of early versions is not read).
    connects = [c.status for c in tk.tcp_connect or () if c.status is not None]
    connect_failure = next((failure_str(c.failure) for c in connects if c.failure), None)
    opened = any(c.success or (c.success is None and not c.failure) for c in connects)
    technique: str | None
    notes = [tk.provider or "", tk.obfuscation or ""]
    if connect_failure or (operation_of(f) == "connect" and not opened):
        f = normalise(connect_failure or f)
        technique, operation = technique_for("connect", f), "connect"
    elif tk.success_handshake is False and opened:
        # The connection opened and the handshake did not: the VPN protocol is filtered.
        technique, operation = "vpn.handshake", "openvpn_handshake"
    elif tk.success_handshake is False:
        technique, operation = None, "openvpn_handshake"
        notes.append("whether its connection opened is not recorded")
    else:
        technique, operation = None, "openvpn"
    detail = ", ".join(x for x in notes if x)
    ev = Evidence(operation, f, target, detail, rule=rules.TOOL_BOOTSTRAP)
    v = _verdict(role, False, [ev], technique)
    return measurement_status([v]), [v], [], []


def judge_riseupvpn(m: Measurement, cat: Catalog) -> Ruling:
    """ts-026: RiseupVPN's API (its CA certificate, then the gateway list) and TCP
    handshakes with its gateways, per transport."""
    tk = m.test_keys
    if tk is None or (tk.api_status is None and tk.ca_cert_status is None):
        return "failure", [], [], ["no api_status recorded"]
    api = cat.roles["riseupvpn/api"]
    verdicts: list[RoleVerdict] = []
    if tk.api_status == "ok" and tk.ca_cert_status is not False:
        verdicts.append(_verdict(api, True, [], None))
    else:
        ev, technique = _api_failure(tk)
        verdicts.append(_verdict(api, False, [ev], technique))
    status = tk.transport_status or {}
    if status:
        gw = cat.roles["riseupvpn/gateways"]
        blocked = sorted(t for t, s in status.items() if s != "ok")
        failing = [g for g in tk.failing_gateways or () if isinstance(g, dict)]
        evidence = [
            Evidence(
                "connect",
                "tcp_connect_failed",
                f"{g.get('ip', '?')}:{g.get('port', '?')}",
                str(g.get("transport_type", "")),
                rule=rules.RISEUP_TRANSPORT,
            )
            for g in failing
        ]
        if not blocked:
            verdicts.append(_verdict(gw, True, evidence, None))
        else:
            v = _verdict(gw, False, evidence, None)
            st: RoleStatus = "blocked" if len(blocked) == len(status) else "partial"
            verdicts.append(
                RoleVerdict(v.service, v.role, v.plane, st, None, v.confidence, evidence)
            )
    return measurement_status(verdicts), verdicts, [], []


def _api_failure(tk: TestKeys) -> tuple[Evidence, str | None]:
    """The atom of a failed API check, from the request that failed if one did."""
    for tr in tk.requests or ():
        fail = failure_str(tr.failure)
        if fail:
            url = (tr.request.url if tr.request is not None else None) or ""
            f = normalise(fail)
            op = operation_of(f)
            tech = technique_for(op, f)
            # Riseup's API serves a certificate some probes' trust stores reject; with
            # no fingerprint a certificate error says the handshake failed, not who
            # answered.
            if tech == "tls.mitm":
                tech = "tls.failure"
            return Evidence(op, f, url, rule=rules.RISEUP_API), tech
    f = normalise(failure_str(tk.api_failure) or "invalid_ca")
    detail = "no valid CA certificate" if tk.ca_cert_status is False else ""
    return Evidence("riseupvpn_api", f, "riseupvpn/api", detail, rule=rules.RISEUP_API), None
