"""The residual check's sandwich judged (pure): residual, none or inconclusive, and how a
shown residual block names the call-plane roles' STUN failures."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from voipwatch.catalog import load
from voipwatch.ooni.model import Exchange, MediaAB, Residual, StreamStats
from voipwatch.testing import exchange
from voipwatch.verdicts.calls import judge_exchanges, judge_media
from voipwatch.verdicts.residual import judge_residual

TIMEOUT = "generic_timeout_error"


def residual(before: bool, after: list[bool], other: list[bool], late: bool | None) -> Residual:
    steps: list[dict[str, Any]] = [{"step": "before", "success": before}]
    steps.append({"step": "trigger", "success": False, "failure": TIMEOUT})
    steps += [{"step": "after", "success": ok} for ok in after]
    steps += [{"step": "other", "success": ok} for ok in other]
    if late is not None:
        steps.append({"step": "late", "success": late})
    for s in steps:
        if not s["success"]:
            s.setdefault("failure", TIMEOUT)
    raw = {"address": "192.0.2.90:42425", "trigger": "stun_binding", "wait": 200, "steps": steps}
    return msgspec.convert(raw, Residual)


@pytest.mark.parametrize(
    ("x", "outcome"),
    [
        (residual(True, [False] * 3, [True] * 3, True), "residual"),
        (residual(True, [False] * 3, [False, True, False], False), "residual"),
        (residual(True, [False] * 3, [True] * 3, None), "residual"),
        (residual(True, [False, False, True], [True] * 3, True), "none"),
        (residual(True, [True] * 3, [True] * 3, True), "none"),
        (residual(False, [False] * 3, [True] * 3, True), "inconclusive"),
        (residual(True, [False] * 3, [False] * 3, False), "inconclusive"),
    ],
)
def test_sandwich_outcomes(x: Residual, outcome: str) -> None:
    f = judge_residual(x)
    assert f is not None
    assert f.outcome == outcome
    assert bool(f.evidence) == (outcome == "residual")


def test_no_check_is_no_finding() -> None:
    assert judge_residual(None) is None
    assert judge_residual(Residual(steps=[])) is None


def test_late_check_is_quoted() -> None:
    f = judge_residual(residual(True, [False] * 3, [True] * 3, True))
    assert f is not None
    assert "passed again 200 s later" in f.evidence[0].detail
    f = judge_residual(residual(True, [False] * 3, [True] * 3, False))
    assert f is not None
    assert "still failed 200 s later" in f.evidence[0].detail


def _ex(port: int, payload: str, ok: bool, control: str = "", transport: str = "udp") -> Exchange:
    return exchange(
        "zoom/media", "helper", port, payload, ok, control=control, transport=transport,
        ip="192.0.2.90", attempt=None,
    )  # fmt: skip


def test_a_shown_residual_names_the_stun_failures() -> None:
    role = load().roles["zoom/media"]
    ex = [
        _ex(8801, "stun_binding", False),
        _ex(8801, "random", False, "same_port_other_payload"),
        _ex(42424, "stun_binding", False, "random_port"),
        _ex(443, "", True, transport="tcp"),
    ]
    plain = judge_exchanges(role, ex, ex)
    assert (plain.status, plain.technique) == ("blocked", "udp.blocked")
    shown = judge_residual(residual(True, [False] * 3, [True] * 3, True))
    v = judge_exchanges(role, ex, ex, shown)
    assert (v.status, v.technique, v.confirmed) == ("blocked", "residual", True)
    assert v.evidence[0].operation == "residual"
    none = judge_residual(residual(True, [True] * 3, [True] * 3, True))
    assert judge_exchanges(role, ex, ex, none).technique == "udp.blocked"


def test_a_shown_residual_leaves_other_techniques_alone() -> None:
    role = load().roles["zoom/media"]
    ex = [
        _ex(8801, "stun_binding", True),
        _ex(8801, "dtls_client_hello", False),
        _ex(8801, "random", True, "same_port_other_payload"),
    ]
    shown = judge_residual(residual(True, [False] * 3, [True] * 3, True))
    assert judge_exchanges(role, ex, ex, shown).technique == "dtls.dpi"


def test_media_streams_lost_after_a_residual_trigger() -> None:
    role = load().roles["webrtc/media"]
    lost = StreamStats(sent=100, received=0, loss=1.0)
    ab = MediaAB(original=lost, inverted=lost, differentiation="inconclusive")
    shown = judge_residual(residual(True, [False] * 3, [True] * 3, True))
    v = judge_media(role, ab, helper_reachable=True, residual=shown)
    assert (v.status, v.technique, v.confirmed) == ("blocked", "residual", True)
    assert judge_media(role, ab, helper_reachable=True).technique == "udp.blocked"
