"""The one rule for "blocked here": is a share of blocked verdicts more than noise?

A network, country, app and role is ``blocked`` or ``partial`` only when its share of
blocked verdicts is significantly above that network's own baseline; below that it
stays ``ok``, with its few anomalies counted beside it. The map, the grid,
``/api/v1/current``, the app and country pages and the brief all take their state from
:func:`judge` and :func:`standing`, so one figure is said the same way everywhere.

Significance is a one-sided 95 % Wilson lower confidence bound on the share: the bound
must clear the baseline, and at least :data:`MIN_BLOCKED` of at least
:data:`MIN_JUDGED` verdicts must say blocked. The baseline of a role on a network is
the lower quartile of the blocked shares of the network's *other* roles (never below
:data:`BASELINE_FLOOR`): a role that fails no more than what else the network carries
is not singled out, whether the network is flaky or the verdicts are noisy. Pure
functions: counts in, judgements out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

#: One-sided 95 % normal quantile of the lower confidence bound.
Z: Final = 1.645
#: Fewer judged verdicts than this say nothing either way.
MIN_JUDGED: Final = 10
#: Fewer blocked verdicts than this are "a few anomalies", whatever their share.
MIN_BLOCKED: Final = 5
#: The least baseline: OONI-like data fails this often without any censor.
BASELINE_FLOOR: Final = 0.05
#: A significant share whose lower bound reaches this is ``blocked``, else ``partial``.
BLOCKED_BOUND: Final = 0.5
#: States from worst to best; a roll-up takes the worst of its parts.
STATES: Final = ("blocked", "partial", "ok")


@dataclass(frozen=True, slots=True)
class Judgement:
    """The state of one count of verdicts, with what it was judged on."""

    status: str
    blocked: int
    judged: int
    lower_bound: float
    baseline: float

    @property
    def significant(self) -> bool:
        return self.status != "ok"


def lower_bound(blocked: int, judged: int, z: float = Z) -> float:
    """Wilson score lower bound of ``blocked / judged`` (0 when nothing was judged)."""
    if judged <= 0:
        return 0.0
    p = blocked / judged
    z2 = z * z
    centre = p + z2 / (2 * judged)
    spread = z * math.sqrt(p * (1 - p) / judged + z2 / (4 * judged * judged))
    return max(0.0, (centre - spread) / (1 + z2 / judged))


def judge(blocked: int, judged: int, baseline: float = BASELINE_FLOOR) -> Judgement:
    """``blocked`` of ``judged`` verdicts against a baseline share: the state they earn."""
    if blocked < 0 or judged < blocked:
        raise ValueError(f"counts: {blocked} blocked of {judged} judged")
    base = max(BASELINE_FLOOR, baseline)
    bound = lower_bound(blocked, judged)
    status = "ok"
    if judged >= MIN_JUDGED and blocked >= MIN_BLOCKED and bound > base:
        status = "blocked" if bound >= BLOCKED_BOUND else "partial"
    return Judgement(status, blocked, judged, round(bound, 4), round(base, 4))


def baselines(shares: Mapping[str, tuple[int, int]]) -> dict[str, float]:
    """Per role of one network, the baseline its share is judged against.

    ``shares`` maps each role the network carried to ``(blocked, judged)``. A role's
    baseline is the lower quartile of the other roles' shares among those with at
    least :data:`MIN_JUDGED` verdicts, or the floor when there are none.
    """
    usable = {r: b / n for r, (b, n) in shares.items() if n >= MIN_JUDGED}
    out = {}
    for role in shares:
        others = sorted(s for r, s in usable.items() if r != role)
        out[role] = max(BASELINE_FLOOR, _lower_quartile(others)) if others else BASELINE_FLOOR
    return out


def _lower_quartile(values: list[float]) -> float:
    # Linear interpolation between order statistics, as numpy's default.
    pos = 0.25 * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def standing(parts: Iterable[Judgement]) -> Judgement:
    """The state of a whole (a country's app on a plane) from its networks' and roles'.

    The worst part decides, and its counts and bound are the ones shown: "blocked"
    means at least one network blocks a role beyond its own noise. With no
    significant part the whole is ``ok`` with the summed counts ("a few anomalies,
    n of N").
    """
    items = list(parts)
    if not items:
        return Judgement("ok", 0, 0, 0.0, BASELINE_FLOOR)
    worst = min(items, key=lambda j: (STATES.index(j.status), -j.lower_bound + j.baseline))
    if worst.significant:
        return worst
    blocked, judged = sum(j.blocked for j in items), sum(j.judged for j in items)
    return Judgement("ok", blocked, judged, round(lower_bound(blocked, judged), 4), BASELINE_FLOOR)
