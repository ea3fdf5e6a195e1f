"""Signal (ts-029): HTTPS to Signal's servers, validated against Signal's pinned CAs.

Spec: https://github.com/ooni/spec/blob/master/nettests/ts-029-signal.md

Each server belongs to a role (messages, contact discovery, storage, CDN, group
calls); OONI's single ``signal_backend_status`` is split so that the UAE case —
only ``sfu.voip.signal.org`` blocked, calls fail while messages work — reads as
such. Signal pins its root CAs, so a certificate error is ``tls.mitm``.
``uptime.signal.org`` answering 127.0.0.2 is Signal's own outage flag: failures are
then ``down``, not ``blocked``.

OONI discards whole version ranges whose data is known wrong; the same rules apply
here (see :func:`discard_reason`).
"""

from __future__ import annotations

import re
from datetime import datetime

import msgspec

from voipwatch.catalog import Catalog, Role
from voipwatch.ooni.model import Measurement, TestKeys, failure_str
from voipwatch.verdicts.evidence import (
    combine,
    dns_outcome,
    endpoint_outcome,
    measurement_status,
    unusable,
    url_host,
    version_tuple,
)
from voipwatch.verdicts.facts import Facts, Outcome, judged_on_facts, requests_by_url
from voipwatch.verdicts.types import Observation, Ruling

_OONI_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", re.ASCII)


def start_time(text: str) -> datetime | None:
    """OONI's ``YYYY-MM-DD hh:mm:ss``, as ``strptime`` reads it (``None`` when it cannot).

    The usual zero-padded form is read by ``fromisoformat``, many times faster; any
    other (``2023-1-5 1:2:3``, which ``strptime`` accepts too) goes to ``strptime``.
    """
    try:
        if _OONI_TIME.fullmatch(text):
            return datetime.fromisoformat(text)
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def discard_reason(m: Measurement) -> str | None:
    """Why OONI's fastpath (``score_signal``) would discard this measurement, if it would."""
    tk = m.test_keys
    if tk is None:
        return "no test_keys"
    if tk.failed_operation is msgspec.UNSET or tk.failure is msgspec.UNSET:
        return "failed_operation or failure is missing (OONI counts that as a failed run)"
    if failure_str(tk.failed_operation) or failure_str(tk.failure):
        return "the experiment itself failed (failed_operation/failure set)"
    start = start_time(m.measurement_start_time or "")
    if start is None:
        return "measurement_start_time is missing or unparsable"
    tv = m.test_version or "0.0.0"
    v = version_tuple(tv)
    if tv == "0.2.4":
        return "test_version 0.2.4 is broken (ooni/probe#2636)"
    if v <= (0, 2, 3) and start >= datetime(2023, 11, 7):
        return "test_version <= 0.2.3 after 2023-11-07 tests a retired endpoint (ooni/probe#2627)"
    if v < (0, 2, 2) and start >= datetime(2022, 10, 19):
        return "test_version < 0.2.2 after 2022-10-19 lacks Signal's new CA (ooni/probe#2344)"
    ann = m.annotations
    ev = ann.engine_version if ann is not None else None
    ours = ann is not None and ann.engine_name == "voipwatch"
    if not ours and version_tuple(ev or "0.0.0") < (3, 17, 2) and start >= datetime(2023, 5, 2):
        return "engine_version < 3.17.2 after 2023-05-02 (ooni/backend#679)"
    if tk.signal_backend_status not in ("ok", "blocked"):
        return f"signal_backend_status is {tk.signal_backend_status!r}"
    return None


@judged_on_facts
def judge(m: Measurement, tk: TestKeys, facts: Facts, cat: Catalog) -> Ruling:
    observations: list[Observation] = []
    by_role: dict[str, list[Outcome]] = {}
    roles: dict[str, Role] = {}
    fallback = cat.roles["signal/chat"]

    attempts, _ = requests_by_url(tk)
    for url, fails in attempts.items():
        host = url_host(url)
        role = cat.role_for_host(host) or fallback
        o = endpoint_outcome(facts, role, host=host, url=url, request_failures=fails)
        by_role.setdefault(role.id, []).append(o)
        roles[role.id] = role
        observations.extend(o.observations)

    down = False
    r_up = cat.roles["signal/uptime"]
    for host in facts.dns:
        if cat.role_for_host(host) is r_up:
            _, obs = dns_outcome(facts, host, r_up, check_owner=False)
            observations.extend(obs)
            down = any(ip in r_up.down_answers for ip, _ in facts.dns[host].answers)
    verdicts = [combine(roles[rid], outs, down=down) for rid, outs in by_role.items()]
    notes = ["uptime.signal.org says Signal is down: failures are not blocking"] if down else []

    reason = discard_reason(m)
    if reason:
        return "failure", unusable(verdicts), observations, [f"unusable: {reason}"]
    if not verdicts:
        return "failure", [], observations, ["no requests to Signal's servers recorded"]
    return measurement_status(verdicts), verdicts, observations, notes
