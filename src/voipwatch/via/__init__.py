"""Via-tool results: app roles measured directly and through a circumvention tool."""

from voipwatch.via.outcome import (
    Outcome,
    ToolStatus,
    ViaOutcome,
    judge_via,
    tool_status,
    via_measurement,
)
from voipwatch.via.summary import summary

__all__ = [
    "Outcome",
    "ToolStatus",
    "ViaOutcome",
    "judge_via",
    "summary",
    "tool_status",
    "via_measurement",
]
