"""STUN reachability (ts-025): one binding request to one STUN server.

Spec: https://github.com/ooni/spec/blob/master/nettests/ts-025-stun-reachability.md

The spec's example says ``stun_reachability``; probe-cli emits
``stunreachability``. Both are judged here (OONI's fastpath only scores the
latter). The test has no control, so a failure is an ``anomaly`` that could also be
the server's own outage.
"""

from __future__ import annotations

from voipwatch.catalog import Catalog
from voipwatch.ooni.failures import normalise
from voipwatch.ooni.model import Measurement, TestKeys, failure_str
from voipwatch.verdicts import rules
from voipwatch.verdicts.evidence import atom, combine, dns_outcome, measurement_status
from voipwatch.verdicts.facts import Facts, Outcome, judged_on_facts
from voipwatch.verdicts.types import Observation, Ruling


@judged_on_facts
def judge(m: Measurement, tk: TestKeys, facts: Facts, cat: Catalog) -> Ruling:
    endpoint = tk.endpoint or (m.input if isinstance(m.input, str) else "") or ""
    endpoint = endpoint.removeprefix("stun://")
    host, _, port = endpoint.rpartition(":") if ":" in endpoint else (endpoint, "", "")
    if not host:
        return "failure", [], [], ["no STUN endpoint recorded"]
    role = cat.role_for_host(host) or cat.roles["stun/public"]
    if role.plane != "media":
        role = cat.roles["stun/public"]
    dns, obs = dns_outcome(facts, host, role, check_owner=False)
    fail = failure_str(tk.failure)
    outcome: Outcome
    if dns is not None:
        outcome = dns
    elif fail:
        f = normalise(fail)
        op = "resolve" if f.startswith("dns_") else "stun_binding"
        rule = rules.DNS_FAILURE if op == "resolve" else rules.STUN_BINDING
        ev, tech = atom(op, f, endpoint, rule=rule)
        outcome = Outcome(False, ev, tech, obs)
    else:
        outcome = Outcome(True, observations=obs)
    observations = list(outcome.observations)
    observations.append(
        Observation(
            "stun",
            role.service,
            role.id,
            host,
            outcome.ok is True,
            port=int(port) if port.isdigit() else 0,
            operation="stun_binding",
            failure=outcome.evidence.failure if outcome.evidence else "",
        )
    )
    verdicts = [combine(role, [outcome])]
    return measurement_status(verdicts), verdicts, observations, []
