"""WhatsApp (ts-018): chat endpoints, registration server, WhatsApp Web.

Spec: https://github.com/ooni/spec/blob/master/nettests/ts-018-whatsapp.md

Like OONI's fastpath, the probe's own ``*_status`` keys are not trusted (probe bug
probe-engine#341; the Ireland 2022-12-02 sample says web "blocked" for an HTTP
status change): everything is recomputed from ``requests`` and ``tcp_connect``.
Unlike OONI, a run where some chat endpoints fail on both ports while others work
is ``partial`` rather than ``ok``.
"""

from __future__ import annotations

from voipwatch.catalog import Catalog
from voipwatch.ooni.model import Measurement, TestKeys, failure_str
from voipwatch.verdicts.evidence import combine, endpoint_outcome, measurement_status, unusable
from voipwatch.verdicts.facts import Facts, Outcome, judged_on_facts, requests_by_url
from voipwatch.verdicts.types import Observation, Ruling

REGISTRATION_URL = "https://v.whatsapp.net/v2/register"
WEB_URLS = ("https://web.whatsapp.com/", "http://web.whatsapp.com/")


@judged_on_facts
def judge(m: Measurement, tk: TestKeys, facts: Facts, cat: Catalog) -> Ruling:
    notes: list[str] = []
    r_ep = cat.roles["whatsapp/endpoints"]
    r_reg = cat.roles["whatsapp/registration"]
    r_web = cat.roles["whatsapp/web"]
    observations: list[Observation] = []

    # Chat endpoints: one outcome per host (ok if any port connects).
    hosts = {h for h in facts.dns if cat.role_for_host(h) is r_ep}
    hosts |= {facts.ip_hosts.get(ip, ip) for ip, _ in facts.tcp}
    hosts = {h for h in hosts if h not in ("v.whatsapp.net", "web.whatsapp.com")}
    ep_outcomes: list[Outcome] = []
    for h in sorted(hosts):
        o = endpoint_outcome(facts, r_ep, host=h, expect_tls=False)
        ep_outcomes.append(o)
        observations.extend(o.observations)

    # Registration and web: the HTTPS requests.
    attempts, codes = requests_by_url(tk)
    reg: Outcome | None = None
    web: Outcome | None = None
    if REGISTRATION_URL in attempts:
        reg = endpoint_outcome(
            facts,
            r_reg,
            host="v.whatsapp.net",
            url=REGISTRATION_URL,
            request_failures=attempts[REGISTRATION_URL],
            status_code=codes[REGISTRATION_URL],
        )
    web_url = next((u for u in WEB_URLS if u in attempts), None)
    if web_url is not None:
        web = endpoint_outcome(
            facts,
            r_web,
            host="web.whatsapp.com",
            url=web_url,
            request_failures=attempts[web_url],
            status_code=codes[web_url],
        )
    verdicts = [combine(r_ep, ep_outcomes)]
    for role, outcome in ((r_reg, reg), (r_web, web)):
        if outcome is not None:
            verdicts.append(combine(role, [outcome]))
            observations.extend(outcome.observations)

    # OONI fastpath's reasons to discard a WhatsApp measurement.
    failures = (tk.failure, tk.registration_server_failure, tk.whatsapp_web_failure)
    if any((failure_str(f) or "").startswith("unknown_failure") for f in failures):
        notes.append("a *_failure key holds unknown_failure: the probe failed (OONI discards it)")
    if not tk.requests:
        notes.append("no HTTP requests recorded: unusable (OONI discards it)")
    elif reg is None or web is None:
        notes.append("registration or web request missing: unusable (OONI discards it)")
    elif reg.ok and web.ok and not facts.tcp:
        notes.append("no endpoint connections recorded: unusable (OONI discards it)")
    if notes:
        return "failure", unusable(verdicts), observations, notes
    return measurement_status(verdicts), verdicts, observations, notes
