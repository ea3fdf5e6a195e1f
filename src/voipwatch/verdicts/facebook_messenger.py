"""Facebook Messenger (ts-019): DNS consistency and TCP 443 to Messenger's servers.

Spec: https://github.com/ooni/spec/blob/master/nettests/ts-019-facebook-messenger.md

The probe calls an answer consistent when it lies in Facebook's AS32934, and only
connects to consistent addresses. Facts are re-read from ``queries`` and
``tcp_connect``; the probe's ``facebook_<endpoint>_*`` keys (``facebook-…`` before
test_version 0.3.0) are used only where the facts are missing, as in legacy runs
whose DNS answers carry no ASN.
"""

from __future__ import annotations

from voipwatch.catalog import Catalog, Role
from voipwatch.ooni.model import Measurement, TestKeys
from voipwatch.verdicts import rules
from voipwatch.verdicts.evidence import (
    atom,
    combine,
    dns_outcome,
    endpoint_outcome,
    measurement_status,
)
from voipwatch.verdicts.facts import Facts, Outcome, judged_on_facts
from voipwatch.verdicts.types import Observation, RoleVerdict, Ruling


def _key(tk: TestKeys, name: str) -> bool | None:
    """A probe key in either spelling (``facebook_x`` or legacy ``facebook-x``)."""
    v: bool | None = getattr(tk, name, None)
    if v is None:
        v = getattr(tk, f"legacy_{name}", None)
    return v


def _host_outcome(facts: Facts, tk: TestKeys, role: Role, host: str, key: str) -> Outcome:
    if facts.probe:
        # voipwatch's own run: the trusted resolver, not an ASN table, says what is
        # consistent.
        return endpoint_outcome(facts, role, host=host, expect_tls=False)
    dns, obs = dns_outcome(facts, host, role)
    if dns is not None:
        return dns
    answers = facts.dns[host].answers if host in facts.dns else []
    has_asn = any(asn for _, asn in answers)
    inconsistent = [o for o in obs if o.failure == "dns_inconsistent_answer"]
    if inconsistent or (
        answers and not has_asn and _key(tk, f"facebook_{key}_dns_consistent") is False
    ):
        detail = (
            f"answer {inconsistent[0].ip} in {inconsistent[0].detail}, outside AS32934"
            if inconsistent
            else "the probe found the answer outside AS32934"
        )
        rule = rules.DNS_INCONSISTENT if inconsistent else rules.PROBE_KEY
        ev, tech = atom("resolve", "dns_inconsistent_answer", host, detail, rule=rule)
        return Outcome(False, ev, tech, obs)
    if role.dns_only:
        if answers:
            return Outcome(True, observations=obs)
        consistent = _key(tk, f"facebook_{key}_dns_consistent")
        return Outcome(None if consistent is None else consistent, observations=obs)
    o = endpoint_outcome(facts, role, host=host, expect_tls=False)
    if o.ok is None or (o.ok and not any(ob.layer == "tcp" for ob in o.observations)):
        reachable = _key(tk, f"facebook_{key}_reachable")
        if reachable is False:
            ev, tech = atom(
                "connect",
                "connect_error",
                host,
                f"the probe reports facebook_{key}_reachable = false",
                rule=rules.PROBE_KEY,
            )
            return Outcome(False, ev, tech, o.observations)
        if reachable is True:
            return Outcome(True, observations=o.observations)
    return o


@judged_on_facts
def judge(m: Measurement, tk: TestKeys, facts: Facts, cat: Catalog) -> Ruling:
    observations: list[Observation] = []
    verdicts: list[RoleVerdict] = []
    for role in cat.services["messenger"].roles:
        if not role.ooni_keys:
            continue
        outcomes = []
        for host, key in zip(role.hosts, role.ooni_keys, strict=True):
            o = _host_outcome(facts, tk, role, host, key)
            outcomes.append(o)
            observations.extend(o.observations)
        verdicts.append(combine(role, outcomes))
    return measurement_status(verdicts), verdicts, observations, []
