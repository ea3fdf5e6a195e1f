"""voipwatch's own signalling tests of apps OONI does not test (``voipwatch_<app>``).

The probe contacts each catalogue role's URLs (and hosts) with the same template
keys OONI uses (df-001/002/005/006), plus its controls; each URL is an endpoint of
the role the catalogue gives it.
"""

from __future__ import annotations

from voipwatch.catalog import Catalog, Role
from voipwatch.ooni.model import Measurement
from voipwatch.verdicts.evidence import combine, endpoint_outcome, measurement_status, url_host
from voipwatch.verdicts.facts import Outcome, collect, requests_by_url, routable_of
from voipwatch.verdicts.types import Observation, Ruling


def judge(m: Measurement, cat: Catalog) -> Ruling:
    tk = m.test_keys
    if tk is None:
        return "failure", [], [], ["no test_keys"]
    facts = collect(tk, routable=routable_of(m), cc=m.probe_cc or "")
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
