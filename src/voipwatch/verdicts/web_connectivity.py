"""Web Connectivity (ts-017) measurements of app websites in the catalogue.

Spec: https://github.com/ooni/spec/blob/master/nettests/ts-017-web-connectivity.md

Only inputs whose host belongs to a catalogue role are judged; any other website is
``unsupported``. The probe compares itself with a control run by OONI's test helper
and reports ``blocking`` (``dns``, ``tcp_ip``, ``http-failure``, ``http-diff``,
``false``, or ``null`` when the run is unusable); the evidence atom is taken from
the failure of the layer it names.
"""

from __future__ import annotations

from voipwatch.catalog import Catalog
from voipwatch.ooni.failures import normalise, operation_of
from voipwatch.ooni.fingerprints import FALSE_POSITIVE, Fingerprint, rank
from voipwatch.ooni.identity import input_str
from voipwatch.ooni.model import Measurement, failure_str
from voipwatch.verdicts import rules
from voipwatch.verdicts.evidence import (
    atom,
    combine,
    dns_fingerprints,
    dns_outcome,
    fingerprint_outcome,
    http_fingerprint,
    measurement_status,
    unusable,
    url_host,
)
from voipwatch.verdicts.facts import Facts, Outcome, collect, is_bogon, routable_of
from voipwatch.verdicts.types import Ruling


def judge(m: Measurement, cat: Catalog) -> Ruling:
    url = input_str(m.input) or ""
    role = cat.role_for_url(url)
    if role is None:
        return "unsupported", [], [], [f"input {url or '(none)'} is not an app in the catalogue"]
    tk = m.test_keys
    if tk is None:
        return "failure", [], [], ["no test_keys"]
    host = url_host(url)
    # Any page may be a known false positive that explains an http-diff.
    facts = collect(
        tk, routable=routable_of(m), cc=m.probe_cc or "", all_pages=tk.blocking == "http-diff"
    )
    _, obs = dns_outcome(facts, host, role, check_owner=False)
    blocking = tk.blocking
    outcome: Outcome
    notes: list[str] = []
    wc = rules.WEB_CONNECTIVITY
    info: list[str] = []  # said in the verdict's notes, not a reason to discard it
    # A censor's fingerprint in the answer or the page is proof whatever the probe
    # concluded; a vague one backs what the probe flagged; a known false positive
    # clears it.
    found = dns_fingerprints(facts, host)
    dns_fp = found[0] if found else None
    page = _page_fingerprint(facts, harmless_too=blocking == "http-diff")
    if dns_fp is not None and (dns_fp[1].proves(facts.cc) or _backs(dns_fp[1], blocking, "dns")):
        answer, fp = dns_fp
        failure = (
            "dns_bogon_error" if is_bogon(answer, facts.routable) else "dns_inconsistent_answer"
        )
        outcome = fingerprint_outcome("resolve", failure, host, f"answer {answer}", fp, facts, obs)
    elif page is not None and (page[1].proves(facts.cc) or _backs(page[1], blocking, "http-diff")):
        page_url, fp = page
        outcome = fingerprint_outcome(
            "http_request",
            "http_blockpage",
            page_url,
            "the response is a block page",
            fp,
            facts,
            obs,
        )
    elif blocking is False:
        outcome = Outcome(True, observations=obs)
    elif (cleared := _false_positive(blocking, dns_fp, page)) is not None:
        outcome = Outcome(True, observations=obs)
        info.append(
            f"blocking {blocking!r} cleared: fingerprint {cleared.name}, scope fp "
            f"({rules.RULES[rules.FINGERPRINT_FALSE_POSITIVE]})"
        )
    elif blocking == "dns":
        f = failure_str(tk.dns_experiment_failure)
        d = facts.dns.get(host)
        bogons = [ip for ip, _ in d.answers if is_bogon(ip)] if d is not None else []
        if f:
            ev, tech = atom("resolve", normalise(f), host, rule=rules.DNS_FAILURE)
        elif bogons:
            ev, tech = atom(
                "resolve",
                "dns_bogon_error",
                host,
                f"answer {bogons[0]} is not routable",
                rule=rules.DNS_BOGON,
            )
        else:
            ev, tech = atom(
                "resolve",
                "dns_inconsistent_answer",
                host,
                "answers differ from the control's (web_connectivity dns)",
                rule=wc,
            )
        outcome = Outcome(False, ev, tech, obs)
    elif blocking == "tcp_ip":
        fails = [(ip, port, f) for (ip, port), fs in facts.tcp.items() for f in fs if f]
        ip, port, f = fails[0] if fails else ("", 0, "generic_timeout_error")
        ev, tech = atom(
            "connect", f or "generic_timeout_error", f"{ip}:{port}" if ip else host, rule=wc
        )
        outcome = Outcome(False, ev, tech, obs)
    elif blocking == "http-failure":
        f = normalise(failure_str(tk.http_experiment_failure) or "unknown_failure")
        op = operation_of(f)
        if (
            op == "http_request"
            and url.startswith("https")
            and f in ("connection_reset", "eof_error", "generic_timeout_error")
        ):
            op = "tls_handshake"
        ev, tech = atom(op, f, url if op == "http_request" else host, rule=wc)
        outcome = Outcome(False, ev, tech, obs)
    elif blocking == "http-diff":
        ev, tech = atom(
            "http_request",
            "http_diff",
            url,
            "the page differs from the one the control fetched",
            rule=wc,
        )
        outcome = Outcome(False, ev, tech, obs)
    else:
        outcome = Outcome(None, observations=obs)
        notes.append(f"blocking is {blocking!r}: the probe could not conclude (OONI discards it)")
    verdicts = [combine(role, [outcome])]
    unknown = any(
        (failure_str(v) or "").startswith("unknown_failure")
        for v in (
            tk.failure,
            tk.dns_experiment_failure,
            tk.http_experiment_failure,
            tk.control_failure,
        )
    )
    if unknown:
        notes.append("a *_failure key holds unknown_failure: the probe failed (OONI discards it)")
    if tk.accessible is None:
        # Present but null: OONI's fastpath discards these (ooni/backend#610).
        notes.append("accessible is null: the probe could not conclude (ooni/backend#610)")
    if notes:
        return "failure", unusable(verdicts), list(outcome.observations), notes
    return measurement_status(verdicts), verdicts, list(outcome.observations), info


def _backs(fp: Fingerprint, blocking: object, flagged: str) -> bool:
    """A fingerprint that proves nothing here still names what the probe flagged."""
    return fp.scope != FALSE_POSITIVE and blocking == flagged


def _false_positive(
    blocking: object,
    dns_fp: tuple[str, Fingerprint] | None,
    page: tuple[str, Fingerprint] | None,
) -> Fingerprint | None:
    """The fingerprint of a known false positive that explains what the probe flagged."""
    for flagged, match in (("dns", dns_fp), ("http-diff", page)):
        if blocking == flagged and match is not None and match[1].scope == FALSE_POSITIVE:
            return match[1]
    return None


def _page_fingerprint(facts: Facts, *, harmless_too: bool) -> tuple[str, Fingerprint] | None:
    """The fingerprint the pages of the run match (a censor's first, then, when
    ``harmless_too``, a known false positive), with the URL whose response matched."""
    found: list[tuple[str, Fingerprint]] = []
    for url in facts.responses:
        fp = http_fingerprint(facts, url)
        if fp is None and harmless_too:
            fp = http_fingerprint(facts, url, scopes=(FALSE_POSITIVE,))
        if fp is not None:
            found.append((url, fp))
    return min(found, key=lambda uf: (rank(uf[1], facts.cc), uf[0])) if found else None
