"""Telegram (ts-020): data centres (TCP + HTTP POST on 80 and 443) and Telegram Web.

Spec: https://github.com/ooni/spec/blob/master/nettests/ts-020-telegram.md

OONI calls the DCs reachable when any one of them answers; that hid Brazil 2023's
per-ISP blocking (probe#2466). Here each DC address is an endpoint of the
``any_of`` role ``telegram/dc``: some failing is ``partial``.
"""

from __future__ import annotations

from voipwatch.catalog import Catalog
from voipwatch.ooni.failures import normalise, operation_of
from voipwatch.ooni.model import Measurement, TestKeys, failure_str
from voipwatch.verdicts import rules
from voipwatch.verdicts.evidence import (
    atom,
    combine,
    endpoint_outcome,
    measurement_status,
    unusable,
    url_host,
)
from voipwatch.verdicts.facts import Facts, Outcome, judged_on_facts
from voipwatch.verdicts.types import Observation, Ruling

WEB_URLS = ("https://web.telegram.org/", "http://web.telegram.org/")


@judged_on_facts
def judge(m: Measurement, tk: TestKeys, facts: Facts, cat: Catalog) -> Ruling:
    notes: list[str] = []
    r_dc = cat.roles["telegram/dc"]
    r_web = cat.roles["telegram/web"]
    observations: list[Observation] = []

    # HTTP POSTs per DC address: the DC works if any request to it got a response.
    dc_requests: dict[str, tuple[list[str | None], str]] = {}
    web_attempts: dict[str, list[str | None]] = {}
    web: Outcome | None = None
    for tr in tk.requests or ():
        url = tr.request.url if tr.request is not None else None
        if not url:
            notes.append("a request has no URL: probe bug, unusable (OONI discards it)")
            continue
        fail = failure_str(tr.failure)
        if url in WEB_URLS:
            web_attempts.setdefault(url, []).append(fail)
            continue
        dc_requests.setdefault(url_host(url), ([], url))[0].append(fail)
    web_url = next((u for u in WEB_URLS if u in web_attempts), None)
    if web_url is not None:
        web = endpoint_outcome(
            facts,
            r_web,
            host="web.telegram.org",
            url=web_url,
            request_failures=web_attempts[web_url],
        )

    # The data centres are address literals; an address some name resolved to is that
    # name's (web.telegram.org's), not a data centre.
    ips = {ip for ip, _ in facts.tcp if ip not in facts.ip_hosts} | set(dc_requests)
    outcomes: list[Outcome] = []
    for ip in sorted(ips):
        fails, dc_url = dc_requests.get(ip, ([], None))
        o = endpoint_outcome(
            facts, r_dc, host=ip, url=dc_url, request_failures=fails, expect_tls=False
        )
        outcomes.append(o)
        observations.extend(o.observations)
    verdicts = [combine(r_dc, outcomes)]

    if web is None and tk.telegram_web_status in ("ok", "blocked"):
        # Legacy runs without request records: fall back to the probe's own key.
        if tk.telegram_web_status == "ok":
            web = Outcome(True)
        else:
            f = normalise(failure_str(tk.telegram_web_failure) or "unknown_failure")
            ev, tech = atom(
                operation_of(f),
                f,
                "web.telegram.org",
                "from the probe's telegram_web_status",
                rule=rules.PROBE_KEY,
            )
            web = Outcome(False, ev, tech)
    if web is not None:
        verdicts.append(combine(r_web, [web]))
        observations.extend(web.observations)

    if notes:
        return "failure", unusable(verdicts), observations, notes
    return measurement_status(verdicts), verdicts, observations, notes
