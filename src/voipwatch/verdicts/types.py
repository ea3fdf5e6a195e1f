"""Rows of the observation and verdict tiers (see DESIGN.md, "Data flow").

These are plain ``msgspec.Struct`` records so they encode to JSON fast and map
one-to-one onto store tables.
"""

from __future__ import annotations

from typing import Literal

import msgspec

MeasurementStatus = Literal["ok", "anomaly", "confirmed", "failure", "unsupported"]
RoleStatus = Literal["ok", "blocked", "partial", "degraded", "down", "failure", "unknown"]
Plane = Literal["signalling", "media", "web", "circumvention"]
Layer = Literal["dns", "tcp", "tls", "http", "udp", "stun", "sip", "rtp"]

#: Bumped whenever a rule changes what a verdict says; stored beside every verdict
#: so ``voipwatch rejudge`` can tell stale rows.
RULES_VERSION = 3


class Evidence(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """The evidence atom: a failed operation paired with OONI's failure string.

    ``failure`` uses df-007-errors names
    (https://github.com/ooni/spec/blob/master/data-formats/df-007-errors.md);
    ``target`` is what was contacted (``host``, ``ip:port`` or a URL).
    ``detail`` carries what a failure string cannot say (an answer outside the owner
    ASN, a bogon, an HTTP status). ``rule`` names the rule that drew the conclusion
    from this atom (see :data:`voipwatch.verdicts.rules.RULES`); ``fingerprint`` and
    ``scope`` name the fingerprint of OONI's lists the answer matched, if any.
    """

    operation: str
    failure: str
    target: str
    detail: str = ""
    rule: str = ""
    fingerprint: str = ""
    scope: str = ""


class Observation(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One row per measurement × endpoint × layer: a fact, no conclusion."""

    layer: Layer
    service: str
    role: str
    target: str
    ok: bool
    ip: str = ""
    port: int = 0
    operation: str = ""
    failure: str = ""
    detail: str = ""


class RoleVerdict(msgspec.Struct, frozen=True, gc=False):
    """The verdict on one service role of one measurement."""

    service: str
    role: str
    plane: Plane
    status: RoleStatus
    technique: str | None
    confidence: float
    evidence: list[Evidence]
    #: True when a control isolated the technique (same IP with a harmless server
    #: name, a trusted resolver, the control helper outside the network).
    confirmed: bool = False


class Verdict(msgspec.Struct, gc=False):
    """The verdict object of DESIGN.md: one per measurement."""

    measurement_uid: str
    report_id: str
    test_name: str
    test_version: str
    probe_cc: str
    probe_asn: str
    measurement_start_time: str
    input: str | None
    status: MeasurementStatus
    services: list[RoleVerdict]
    notes: list[str] = msgspec.field(default_factory=list)
    rules_version: int = RULES_VERSION


class Judgement(msgspec.Struct, gc=False):
    """What the engine returns for one measurement: the verdict and its observations.

    ``key`` is the measurement's identity in the store (see ``ooni.identity``).
    """

    key: str
    verdict: Verdict
    observations: list[Observation]


#: What a test's rule says of one measurement: its status, the role verdicts, the
#: observations they rest on, and notes (why a measurement was found unusable, say).
Ruling = tuple[MeasurementStatus, list[RoleVerdict], list[Observation], list[str]]
