"""Plain-language lines about what a tool restored, app role by app role."""

from __future__ import annotations

from collections.abc import Iterable

from voipwatch.catalog import Catalog
from voipwatch.via.outcome import ViaOutcome

__all__ = ["summary"]

_WORDS = {
    "restored": "restored through {tool}",
    "still_blocked": "still blocked through {tool}",
    "not_carried": "not carried: {tool} cannot carry calls (no UDP relay)",
}


def _label(cat: Catalog, o: ViaOutcome) -> str:
    name = cat.services[o.service].name if o.service in cat.services else o.service
    role = cat.roles.get(o.role)
    label = role.label if role is not None else o.role
    return label if label.lower().startswith(name.lower()) else f"{name}: {label}"


def summary(outcomes: Iterable[ViaOutcome], catalog: Catalog) -> list[str]:
    """A line on the tool itself, then one per role the direct path found blocked.

    A role judged by several tests is told once, where its direct path fared worst.
    """
    rows = list(outcomes)
    if not rows:
        return []
    tool = rows[0].tool
    lines = [f"Through {tool} ({rows[0].scheme}; names resolved by the tool):"]
    if rows[0].tool_status == "blocked":
        lines.append(f"  {tool} itself is blocked on this network: it reached nothing")
    elif rows[0].tool_status == "failure":
        lines.append(f"  {tool} could not be checked: the check failed on both paths")
    if not rows[0].udp:
        lines.append(f"  {tool} offers no UDP relay: this tool cannot carry calls")
    worst: dict[str, ViaOutcome] = {}
    for o in rows:
        prev = worst.get(o.role)
        if prev is None or _rank(o) < _rank(prev):
            worst[o.role] = o
    told = [o for o in worst.values() if o.outcome != "not_blocked"]
    for o in told:
        words = _WORDS[o.outcome] if o.outcome else "no conclusion (one path tells nothing)"
        lines.append(f"  {_label(catalog, o)}: {words.format(tool=tool)}")
    if not told:
        lines.append("  nothing was blocked directly: there was nothing to restore")
    else:
        rest = len(worst) - len(told)
        if rest:
            lines.append(f"  ({rest} other parts of the apps were not blocked directly)")
    return lines


_ORDER = ("blocked", "partial", "degraded", "down", "failure", "unknown", "ok")


def _rank(o: ViaOutcome) -> int:
    return _ORDER.index(o.direct_status) if o.direct_status in _ORDER else len(_ORDER)
