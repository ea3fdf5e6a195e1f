"""Via-tool results: app roles measured directly and through a circumvention tool."""

from voipwatch.via.outcome import (
    VIA_KEY,
    Outcome,
    ToolStatus,
    ViaOutcome,
    judge_via,
    judge_via_bytes,
    tool_status,
    verdict_object,
    via_measurement,
)
from voipwatch.via.summary import summary

__all__ = [
    "VIA_KEY",
    "Outcome",
    "ToolStatus",
    "ViaOutcome",
    "judge_via",
    "judge_via_bytes",
    "summary",
    "tool_status",
    "verdict_object",
    "via_measurement",
]
