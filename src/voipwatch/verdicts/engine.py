"""Dispatch a measurement to the rules of its test and assemble the verdict object."""

from __future__ import annotations

from collections.abc import Callable

from voipwatch.catalog import Catalog, load
from voipwatch.ooni.identity import input_str, measurement_key, synthetic_uid
from voipwatch.ooni.model import Measurement, decode
from voipwatch.ooni.reader import Record
from voipwatch.verdicts import (
    answers,
    calls,
    circumvention,
    facebook_messenger,
    generic,
    signal,
    stun,
    telegram,
    web_connectivity,
    whatsapp,
)
from voipwatch.verdicts.evidence import measurement_status
from voipwatch.verdicts.types import (
    Judgement,
    MeasurementStatus,
    Observation,
    RoleVerdict,
    Ruling,
    Verdict,
)

#: A test's rule: a decoded measurement and the service catalogue in, its ruling out.
Rule = Callable[[Measurement, Catalog], Ruling]

#: test_name -> its rule; ``voipwatch_<app>`` for an app of the catalogue is judged by
#: :func:`voipwatch.verdicts.generic.judge` (see :func:`rule_for`).
RULES: dict[str, Rule] = {
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


def rule_for(test_name: str, cat: Catalog) -> Rule | None:
    """The rule that judges ``test_name`` with catalogue ``cat``, if voipwatch has one."""
    rule = RULES.get(test_name)
    app = test_name.removeprefix("voipwatch_")
    if rule is None and app != test_name and app in cat.services:
        return generic.judge
    return rule


def _asn(v: str | int | None) -> str:
    if v is None:
        return "AS0"
    if isinstance(v, int):
        return f"AS{v}"
    return v if v.upper().startswith("AS") else f"AS{v}"


def is_judged(test_name: str, catalog: Catalog | None = None) -> bool:
    """Whether voipwatch has rules for ``test_name`` (OONI's tests it reads, and
    ``voipwatch_<app>`` for an app of ``catalog``, by default the shipped one)."""
    return rule_for(test_name, catalog if catalog is not None else load()) is not None


def judge_bytes(
    raw: bytes,
    *,
    source: str = "",
    line: int = 0,
    uid: str | None = None,
    catalog: Catalog | None = None,
) -> Judgement:
    """Judge one raw measurement.

    Raises :class:`~voipwatch.errors.InputError` (or its subclass
    ``NotAMeasurement``) when ``raw`` is not a measurement; everything else,
    however odd, yields a verdict. ``catalog`` is the service catalogue the rules
    judge by (default: the one shipped with voipwatch).
    """
    m, notes = decode(raw, source=source, line=line)
    test_name = m.test_name if isinstance(m.test_name, str) else ""
    report_id = m.report_id or ""
    start = m.measurement_start_time or ""
    inp = input_str(m.input)
    cc = m.probe_cc or "ZZ"
    key = measurement_key(
        report_id=report_id, input=inp, start_time=start, test_name=test_name, raw=raw
    )
    cat = catalog if catalog is not None else load()
    rule = rule_for(test_name, cat)
    status: MeasurementStatus
    services: list[RoleVerdict]
    observations: list[Observation]
    if rule is None:
        status, services, observations = "unsupported", [], []
        notes.append(f"test {test_name or '(none)'} is not judged by voipwatch")
    else:
        status, services, observations, rule_notes = rule(m, cat)
        notes.extend(rule_notes)
        if m.test_keys is not None:
            judged, more = answers.apply(m.test_keys, services, cat)
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


def judge(record: Record, *, catalog: Catalog | None = None) -> Judgement:
    """Judge a :class:`~voipwatch.ooni.reader.Record` (see :func:`judge_bytes`)."""
    return judge_bytes(
        record.raw, source=record.source, line=record.line, uid=record.uid, catalog=catalog
    )
