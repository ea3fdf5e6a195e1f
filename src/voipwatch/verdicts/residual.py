"""The residual-censorship check (``x_residual``): what its sandwich of flows shows.

Innocent bytes on one UDP 3-tuple (``before``), a trigger (a STUN binding), the
same innocent bytes on the same 3-tuple (``after``) and, at that moment, on another
port (``other``), then once more after a wait (``late``):

* ``before`` fails: the 3-tuple was blocked before any trigger — *inconclusive*;
* any ``after`` flow passes: no residual blocking — *none*;
* every ``after`` flow fails and every ``other`` flow too: the path or the helper
  went away — *inconclusive*;
* every ``after`` flow fails while an ``other`` flow passes: **residual** — the
  trigger left the 3-tuple blocked for innocent traffic (``late`` says whether the
  block lifted within the wait).

Pure: the decoded key in, a finding out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voipwatch.ooni.failures import normalise
from voipwatch.ooni.model import Residual, ResidualStep, failure_str
from voipwatch.verdicts.types import Evidence

#: Call-plane techniques a STUN-triggered residual block explains: the trigger is
#: dropped, and so is whatever follows it on the same port.
EXPLAINS = frozenset({"stun.dpi", "udp.port", "udp.icmp", "udp.blocked", "udp.timeout"})


@dataclass(frozen=True)
class ResidualFinding:
    outcome: str  # residual | none | inconclusive
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def shown(self) -> bool:
        return self.outcome == "residual"


def _failure(step: ResidualStep) -> str:
    f = failure_str(step.failure)
    return normalise(f) if f else "generic_timeout_error"


def judge_residual(x: Residual | None) -> ResidualFinding | None:
    """The finding of an ``x_residual`` key (None when the check did not run)."""
    if x is None or not x.steps:
        return None
    by: dict[str, list[ResidualStep]] = {}
    for s in x.steps:
        by.setdefault(s.step or "", []).append(s)
    before, after, other = by.get("before", []), by.get("after", []), by.get("other", [])
    late, trigger = by.get("late", []), by.get("trigger", [])
    where = x.address or ""
    if not before or not after or not other:
        return ResidualFinding("inconclusive")
    if not any(s.success for s in before):
        return ResidualFinding("inconclusive")
    if any(s.success for s in after):
        return ResidualFinding("none")
    if not any(s.success for s in other):
        return ResidualFinding("inconclusive")
    wait = x.wait or 0.0
    if late and any(s.success for s in late):
        how = f"and passed again {wait:g} s later"
    elif late:
        how = f"and still failed {wait:g} s later"
    else:
        how = "(the run ended before the late check)"
    what = x.trigger or "stun_binding"
    trig = trigger[0] if trigger else None
    tdetail = "" if trig is None or trig.success else f"; the {what} itself failed"
    ev = Evidence(
        "residual",
        _failure(after[-1]),
        where,
        f"innocent bytes passed before a {what} and failed on the same 3-tuple after it "
        f"(another port passed at the same moment), {how}{tdetail}",
    )
    return ResidualFinding("residual", [ev])
