"""voipwatch's own signalling tests of apps OONI does not test (``voipwatch_<app>``).

The probe contacts each catalogue role's URLs (and hosts) with the same template
keys OONI uses (df-001/002/005/006), plus its controls; each URL is an endpoint of
the role the catalogue gives it.
"""

from __future__ import annotations

from voipwatch.catalog import Catalog, Role
from voipwatch.ooni.model import Measurement, TestKeys
from voipwatch.verdicts.evidence import combine, endpoint_outcome, measurement_status, url_host
from voipwatch.verdicts.facts import Facts, Outcome, judged_on_facts, requests_by_url
from voipwatch.verdicts.types import Observation, Ruling


@judged_on_facts
def judge(m: Measurement, tk: TestKeys, facts: Facts, cat: Catalog) -> Ruling:
    attempts, _ = requests_by_url(tk)
    by_role: dict[str, list[Outcome]] = {}
    roles: dict[str, Role] = {}
    observations: list[Observation] = []
    for url, fails in attempts.items():
        role = cat.role_for_url(url)
        if role is None:
            continue
        o = endpoint_outcome(facts, role, host=url_host(url), url=url, request_failures=fails)
        by_role.setdefault(role.id, []).append(o)
        roles[role.id] = role
        observations.extend(o.observations)
    verdicts = [combine(roles[r], outs) for r, outs in by_role.items()]
    if not verdicts:
        return "failure", [], observations, ["no request to a catalogue app was recorded"]
    return measurement_status(verdicts), verdicts, observations, []
