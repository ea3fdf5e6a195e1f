"""Per app role: did the tool bring it back? Both paths judged by the same rules.

A measurement made with ``voipwatch probe --via`` carries the run through the tool
in ``test_keys.x_via`` (shape in :mod:`voipwatch.probe.via`). :func:`judge_via`
rebuilds that run as a measurement of its own (same envelope, the tool's test keys),
judges it with the verdict engine exactly as the direct one, and compares the two
role by role. The outcome, checked in this order (the first that holds wins):

1. the direct path's role is ``ok``: ``not_blocked`` (there was nothing to restore);
2. the direct path tells nothing (``down``, ``failure``, ``unknown``): no outcome;
3. the tool itself is blocked (its check failed where the direct one worked):
   ``still_blocked``, with ``tool_status`` ``blocked`` (a blocked tool grants no UDP
   relay either: that is not the tool's limit, so this comes first);
4. a call-plane role through a tool that granted no UDP relay, not ``ok`` through
   it: ``not_carried`` (the tool cannot carry calls);
5. the role is ``ok`` through the tool: ``restored``;
6. ``blocked``, ``partial`` or ``degraded`` through the tool: ``still_blocked``;
7. anything else through the tool: no outcome (the via path tells nothing).
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

import msgspec

from voipwatch.verdicts import Evidence, RoleVerdict, Verdict, judge_bytes

__all__ = [
    "VIA_KEY",
    "Outcome",
    "ToolStatus",
    "ViaOutcome",
    "judge_via",
    "judge_via_bytes",
    "tool_status",
    "verdict_object",
    "via_measurement",
]

Outcome = Literal["restored", "still_blocked", "not_carried", "not_blocked"]
ToolStatus = Literal["ok", "blocked", "failure"]

#: Only measurements made with ``probe --via`` hold this key; raw bytes are searched
#: for it before anything is decoded, so other measurements cost one scan.
VIA_KEY: Final = b'"x_via"'
#: Direct statuses that say nothing about blocking: nothing to compare against.
_SILENT: Final = ("down", "failure", "unknown")
_BLOCKED: Final = ("blocked", "partial", "degraded")


class ViaOutcome(msgspec.Struct, frozen=True):
    """One app role measured directly and through a named tool."""

    service: str
    role: str
    plane: str
    tool: str
    scheme: str
    #: None when one of the paths says nothing (see the module's order).
    outcome: Outcome | None
    tool_status: ToolStatus
    #: Whether the tool carried UDP (a SOCKS5 UDP relay).
    udp: bool
    direct_status: str
    direct_technique: str | None
    via_status: str
    via_technique: str | None
    via_evidence: list[Evidence]


def tool_status(check: Any) -> ToolStatus:
    """``ok`` when the check went through the tool; ``blocked`` when only the direct
    handshake worked; ``failure`` when neither did (nothing is isolated then)."""
    if not isinstance(check, dict):
        return "failure"
    if check.get("via_failure") is None and "via_failure" in check:
        return "ok"
    if check.get("direct_failure") is None and "direct_failure" in check:
        return "blocked"
    return "failure"


def via_measurement(direct: dict[str, Any]) -> dict[str, Any] | None:
    """The through-the-tool run of ``direct`` as a measurement; None without ``x_via``."""
    tk = direct.get("test_keys")
    x = tk.get("x_via") if isinstance(tk, dict) else None
    if not isinstance(x, dict) or not isinstance(x.get("test_keys"), dict):
        return None
    m = {k: v for k, v in direct.items() if k not in ("test_keys", "measurement_uid")}
    m["test_keys"] = x["test_keys"]
    if x.get("test_runtime") is not None:
        m["test_runtime"] = x["test_runtime"]
    return m


def _outcome(
    d: RoleVerdict, v: RoleVerdict | None, *, udp: bool, tool: ToolStatus
) -> Outcome | None:
    if d.status == "ok":
        return "not_blocked"
    if d.status in _SILENT:
        return None
    via_status = v.status if v is not None else "unknown"
    if tool == "blocked":
        return "still_blocked"
    if d.plane == "media" and not udp and via_status != "ok":
        return "not_carried"
    if via_status == "ok":
        return "restored"
    if via_status in _BLOCKED:
        return "still_blocked"
    return None


def judge_via_bytes(raw: bytes, verdict: Verdict) -> list[ViaOutcome]:
    """:func:`judge_via` on a raw measurement (the verdict is the one judged from it)."""
    if VIA_KEY not in raw:
        return []
    try:
        m = json.loads(raw)
    except ValueError:
        return []  # what the reader had to repair carries no x_via worth trusting
    return judge_via(m, verdict) if isinstance(m, dict) else []


def verdict_object(verdict: Verdict, outcomes: list[ViaOutcome]) -> Verdict | dict[str, Any]:
    """The verdict object, with the via outcomes beside it (``via``) when there are any."""
    if not outcomes:
        return verdict
    obj: dict[str, Any] = msgspec.to_builtins(verdict)
    obj["via"] = msgspec.to_builtins(outcomes)
    return obj


def judge_via(direct: dict[str, Any], verdict: Verdict) -> list[ViaOutcome]:
    """The outcome per role of ``verdict`` (the direct measurement's); [] without ``x_via``."""
    m = via_measurement(direct)
    if m is None:
        return []
    x = direct["test_keys"]["x_via"]
    uid = f"{verdict.measurement_uid}.via"
    through = judge_bytes(msgspec.json.encode(m), source="x_via", uid=uid).verdict
    by_role = {(r.service, r.role): r for r in through.services}
    udp = x.get("udp") is True
    status = tool_status(x.get("check"))
    out: list[ViaOutcome] = []
    for d in verdict.services:
        v = by_role.get((d.service, d.role))
        out.append(
            ViaOutcome(
                service=d.service,
                role=d.role,
                plane=d.plane,
                tool=str(x.get("tool") or x.get("scheme") or "tool"),
                scheme=str(x.get("scheme") or ""),
                outcome=_outcome(d, v, udp=udp, tool=status),
                tool_status=status,
                udp=udp,
                direct_status=d.status,
                direct_technique=d.technique,
                via_status=v.status if v is not None else "unknown",
                via_technique=v.technique if v is not None else None,
                via_evidence=list(v.evidence) if v is not None else [],
            )
        )
    return out
