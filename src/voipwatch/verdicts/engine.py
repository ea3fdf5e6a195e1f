"""Dispatch a measurement to the rules of its test and assemble the verdict object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from voipwatch.ooni.identity import input_str, measurement_key, synthetic_uid
from voipwatch.ooni.model import decode
from voipwatch.ooni.reader import Record
from voipwatch.verdicts import answers
from voipwatch.verdicts.evidence import measurement_status
from voipwatch.verdicts.types import Judgement, MeasurementStatus, Observation, RoleVerdict, Verdict

#: A rule module's entry: (measurement) -> (status, role verdicts, observations, notes).
Rule = Callable[[Any], tuple[MeasurementStatus, list[RoleVerdict], list[Observation], list[str]]]


def _rules() -> dict[str, Rule]:
    from voipwatch.verdicts import (
        calls,
        circumvention,
        facebook_messenger,
        signal,
        stun,
        telegram,
        web_connectivity,
        whatsapp,
    )

    return {
        "whatsapp": whatsapp.judge,
        "telegram": telegram.judge,
        "signal": signal.judge,
        "facebook_messenger": facebook_messenger.judge,
        # The spec's example says stun_reachability; probe-cli emits stunreachability.
        "stunreachability": stun.judge,
        "stun_reachability": stun.judge,
        "web_connectivity": web_connectivity.judge,
        "voipwatch_call": calls.judge,
        "tor": circumvention.judge_tor,
        "vanilla_tor": circumvention.judge_vanilla_tor,
        "torsf": circumvention.judge_torsf,
        "psiphon": circumvention.judge_psiphon,
        "openvpn": circumvention.judge_openvpn,
        "riseupvpn": circumvention.judge_riseupvpn,
    }


_RULES: dict[str, Rule] | None = None


def _asn(v: str | int | None) -> str:
    if v is None:
        return "AS0"
    if isinstance(v, int):
        return f"AS{v}"
    return v if v.upper().startswith("AS") else f"AS{v}"


def is_judged(test_name: str) -> bool:
    """Whether voipwatch has rules for ``test_name`` (OONI's tests it reads, and
    ``voipwatch_<app>`` for an app of the catalogue)."""
    if test_name in _rules():
        return True
    if test_name.startswith("voipwatch_"):
        from voipwatch.catalog import load

        return test_name.removeprefix("voipwatch_") in load().services
    return False


def judge_bytes(
    raw: bytes, *, source: str = "", line: int = 0, uid: str | None = None
) -> Judgement:
    """Judge one raw measurement.

    Raises :class:`~voipwatch.errors.InputError` (or its subclass
    ``NotAMeasurement``) when ``raw`` is not a measurement; everything else,
    however odd, yields a verdict.
    """
    global _RULES
    if _RULES is None:
        _RULES = _rules()
    m, notes = decode(raw, source=source, line=line)
    test_name = m.test_name if isinstance(m.test_name, str) else ""
    report_id = m.report_id or ""
    start = m.measurement_start_time or ""
    inp = input_str(m.input)
    cc = m.probe_cc or "ZZ"
    key = measurement_key(
        report_id=report_id, input=inp, start_time=start, test_name=test_name, raw=raw
    )
    rule = _RULES.get(test_name)
    if rule is None and test_name.startswith("voipwatch_"):
        from voipwatch.catalog import load
        from voipwatch.verdicts import generic

        if test_name.removeprefix("voipwatch_") in load().services:
            rule = generic.judge
    status: MeasurementStatus
    services: list[RoleVerdict]
    observations: list[Observation]
    if rule is None:
        status, services, observations = "unsupported", [], []
        notes.append(f"test {test_name or '(none)'} is not judged by voipwatch")
    else:
        status, services, observations, rule_notes = rule(m)
        notes.extend(rule_notes)
        if m.test_keys is not None:
            judged, more = answers.apply(m.test_keys, services)
            notes.extend(more)
            if judged != services:
                services, status = judged, measurement_status(judged)
    verdict = Verdict(
        measurement_uid=uid
        or m.measurement_uid
        or synthetic_uid(start_time=start, probe_cc=cc, test_name=test_name, key=key),
        report_id=report_id,
        test_name=test_name,
        test_version=m.test_version or "",
        probe_cc=cc,
        probe_asn=_asn(m.probe_asn),
        measurement_start_time=start,
        input=inp,
        status=status,
        services=services,
        notes=notes,
    )
    return Judgement(key=key, verdict=verdict, observations=observations)


def judge(record: Record) -> Judgement:
    """Judge a :class:`~voipwatch.ooni.reader.Record` (see :func:`judge_bytes`)."""
    return judge_bytes(record.raw, source=record.source, line=record.line, uid=record.uid)
