"""Web Connectivity (ts-017) measurements of app websites in the catalogue.

Spec: https://github.com/ooni/spec/blob/master/nettests/ts-017-web-connectivity.md

Only inputs whose host belongs to a catalogue role are judged; any other website is
``unsupported``. The probe compares itself with a control run by OONI's test helper
and reports ``blocking`` (``dns``, ``tcp_ip``, ``http-failure``, ``http-diff``,
``false``, or ``null`` when the run is unusable); the evidence atom is taken from
the failure of the layer it names.
"""

from __future__ import annotations

from typing import Any

from voipwatch.catalog import load
from voipwatch.ooni.failures import normalise, operation_of
from voipwatch.ooni.identity import input_str
from voipwatch.ooni.model import failure_str
from voipwatch.verdicts.evidence import (
    Outcome,
    atom,
    collect,
    combine,
    dns_outcome,
    is_bogon,
    measurement_status,
    routable_of,
    unusable,
    url_host,
)
from voipwatch.verdicts.types import MeasurementStatus, Observation, RoleVerdict


def judge(m: Any) -> tuple[MeasurementStatus, list[RoleVerdict], list[Observation], list[str]]:
    cat = load()
    url = input_str(m.input) or ""
    role = cat.role_for_url(url)
    if role is None:
        return "unsupported", [], [], [f"input {url or '(none)'} is not an app in the catalogue"]
    tk = m.test_keys
    if tk is None:
        return "failure", [], [], ["no test_keys"]
    host = url_host(url)
    facts = collect(tk, routable=routable_of(m))
    _, obs = dns_outcome(facts, host, role, check_owner=False)
    blocking = tk.blocking
    outcome: Outcome
    notes: list[str] = []
    if blocking is False:
        outcome = Outcome(True, observations=obs)
    elif blocking == "dns":
        f = failure_str(tk.dns_experiment_failure)
        d = facts.dns.get(host)
        bogons = [ip for ip, _ in d.answers if is_bogon(ip)] if d is not None else []
        if f:
            ev, tech = atom("resolve", normalise(f), host)
        elif bogons:
            ev, tech = atom(
                "resolve", "dns_bogon_error", host, f"answer {bogons[0]} is not routable"
            )
        else:
            ev, tech = atom(
                "resolve",
                "dns_inconsistent_answer",
                host,
                "answers differ from the control's (web_connectivity dns)",
            )
        outcome = Outcome(False, ev, tech, obs)
    elif blocking == "tcp_ip":
        fails = [(ip, port, f) for (ip, port), fs in facts.tcp.items() for f in fs if f]
        ip, port, f = fails[0] if fails else ("", 0, "generic_timeout_error")
        ev, tech = atom("connect", f or "generic_timeout_error", f"{ip}:{port}" if ip else host)
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
        ev, tech = atom(op, f, url if op == "http_request" else host)
        outcome = Outcome(False, ev, tech, obs)
    elif blocking == "http-diff":
        ev, tech = atom(
            "http_request", "http_diff", url, "the page differs from the one the control fetched"
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
    return measurement_status(verdicts), verdicts, list(outcome.observations), notes
