"""Pure verdict rules: measurement → observations → role verdicts. No I/O here."""

from voipwatch.verdicts.engine import is_judged, judge, judge_bytes
from voipwatch.verdicts.types import (
    RULES_VERSION,
    Evidence,
    Judgement,
    Observation,
    RoleVerdict,
    Verdict,
)

__all__ = [
    "RULES_VERSION",
    "Evidence",
    "Judgement",
    "Observation",
    "RoleVerdict",
    "Verdict",
    "is_judged",
    "judge",
    "judge_bytes",
]
