"""Via outcomes: both paths judged by the same rules, then compared role by role.

The paths are real OONI telegram measurements (Germany 2017: web blocked, data
centres partly; Italy 2020: all reachable), put together as a direct run and a run
through a tool; the call-plane case is written by hand from the expected outcome.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from voipwatch.catalog import load as load_catalog
from voipwatch.cli import app
from voipwatch.ooni.model import Exchange, exchange_entry
from voipwatch.verdicts import judge_bytes
from voipwatch.via import judge_via, summary, tool_status, via_measurement

BLOCKED_UID = "20170407013325.000000_DE_telegram_7bdb793bec7bfa13"
OK_UID = "20200111170433.000000_IT_telegram_13772dcc931ebeec"
WORKS = {"target": "helper", "direct_failure": None, "via_failure": None}
TOOL_BLOCKED = {"target": "helper", "direct_failure": None, "via_failure": "tool_timeout"}


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    path = shared_dir / "ooni-samples" / "more" / "all_im.jsonl"
    for line in path.read_bytes().splitlines():
        uid = judge_bytes(line).verdict.measurement_uid
        if uid in (BLOCKED_UID, OK_UID):
            found[uid] = json.loads(line)
    assert set(found) == {BLOCKED_UID, OK_UID}
    return found


def with_via(
    direct: dict[str, Any], through: dict[str, Any], check: dict[str, Any], udp: bool = True
) -> dict[str, Any]:
    m = copy.deepcopy(direct)
    m["test_keys"]["x_via"] = {
        "tool": "tor",
        "scheme": "socks5",
        "dns": "tool",
        "udp": udp,
        "udp_failure": None if udp else "socks_command_not_supported",
        "check": check,
        "test_runtime": 1.0,
        "test_keys": copy.deepcopy(through["test_keys"]),
    }
    return m


def outcomes(m: dict[str, Any]) -> dict[str, str | None]:
    verdict = judge_bytes(msgspec.json.encode(m)).verdict
    return {o.role: o.outcome for o in judge_via(m, verdict)}


@pytest.mark.shared
def test_a_tool_that_reaches_what_the_network_blocks_restores_it(samples: Any) -> None:
    m = with_via(samples[BLOCKED_UID], samples[OK_UID], WORKS)
    assert outcomes(m) == {"telegram/dc": "restored", "telegram/web": "restored"}


@pytest.mark.shared
def test_blocked_through_the_tool_too_is_still_blocked(samples: Any) -> None:
    m = with_via(samples[BLOCKED_UID], samples[BLOCKED_UID], WORKS)
    assert outcomes(m) == {"telegram/dc": "still_blocked", "telegram/web": "still_blocked"}


@pytest.mark.shared
def test_a_blocked_tool_restores_nothing_and_is_named(samples: Any) -> None:
    m = with_via(samples[BLOCKED_UID], samples[OK_UID], TOOL_BLOCKED)
    verdict = judge_bytes(msgspec.json.encode(m)).verdict
    got = judge_via(m, verdict)
    assert {o.outcome for o in got} == {"still_blocked"}
    assert {(o.tool, o.tool_status) for o in got} == {("tor", "blocked")}


@pytest.mark.shared
def test_nothing_to_restore_where_the_direct_path_works(samples: Any) -> None:
    m = with_via(samples[OK_UID], samples[BLOCKED_UID], WORKS)
    assert outcomes(m) == {"telegram/dc": "not_blocked", "telegram/web": "not_blocked"}


@pytest.mark.shared
def test_the_via_path_is_judged_with_the_direct_paths_rules(samples: Any) -> None:
    m = with_via(samples[BLOCKED_UID], samples[BLOCKED_UID], WORKS)
    through = via_measurement(m)
    assert through is not None
    alone = judge_bytes(msgspec.json.encode(samples[BLOCKED_UID])).verdict
    verdict = judge_bytes(msgspec.json.encode(m)).verdict
    got = {o.role: (o.via_status, o.via_technique) for o in judge_via(m, verdict)}
    assert got == {s.role: (s.status, s.technique) for s in alone.services}


def call_measurement(udp_ok: bool) -> dict[str, Any]:
    """A call-plane measurement of one STUN exchange with WhatsApp's relay, silent or
    answered, with the helper reachable (so silence is a block, not a dead helper)."""

    def exchange(port: int, ok: bool, target: str) -> dict[str, object]:
        return exchange_entry(
            Exchange(
                role="whatsapp/relay", target=target, host="", port=port,
                address=f"192.0.2.7:{port}", transport="udp", payload="stun_binding",
                control="", success=ok, failure=None if ok else "generic_timeout_error",
                reply="stun_binding_success" if ok else None, rtt=0.01 if ok else None,
                bytes_sent=20, bytes_received=32 if ok else 0, attempt=0, t0=0.0, t=0.1,
            )
        )  # fmt: skip

    return {
        "test_name": "voipwatch_call",
        "test_version": "0.1.0",
        "input": "whatsapp",
        "probe_cc": "AE",
        "probe_asn": "AS5384",
        "report_id": "20260101T000000Z_voipwatchcall_AE_5384_n1_test",
        "measurement_start_time": "2026-01-01 00:00:00",
        "test_keys": {
            "x_exchanges": [
                exchange(3478, udp_ok, "helper"),
                exchange(42424, True, "helper") | {"control": "random_port", "role": ""},
            ],
        },
    }


def test_a_call_role_through_a_tool_without_udp_is_not_carried() -> None:
    direct = call_measurement(udp_ok=False)
    verdict = judge_bytes(msgspec.json.encode(direct)).verdict
    assert {s.role: s.status for s in verdict.services} == {"whatsapp/relay": "blocked"}
    through = call_measurement(udp_ok=False)
    m = with_via(direct, through, WORKS, udp=False)
    assert outcomes(m) == {"whatsapp/relay": "not_carried"}
    # The same silence through a tool that does relay UDP is a block it did not lift.
    assert outcomes(with_via(direct, through, WORKS, udp=True)) == {
        "whatsapp/relay": "still_blocked"
    }
    answered = with_via(direct, call_measurement(udp_ok=True), WORKS, udp=True)
    assert outcomes(answered) == {"whatsapp/relay": "restored"}


def test_tool_status_isolates_the_tool_only_when_the_direct_check_worked() -> None:
    assert tool_status(WORKS) == "ok"
    assert tool_status(TOOL_BLOCKED) == "blocked"
    both = {"target": "helper", "direct_failure": "generic_timeout_error", "via_failure": "x"}
    assert tool_status(both) == "failure"
    assert tool_status(None) == "failure"
    assert tool_status({}) == "failure"


def test_a_measurement_without_x_via_has_no_outcomes() -> None:
    m = call_measurement(udp_ok=True)
    assert via_measurement(m) is None
    assert judge_via(m, judge_bytes(msgspec.json.encode(m)).verdict) == []


@pytest.mark.shared
def test_verdicts_command_prints_the_via_outcomes_beside_the_verdict(
    samples: Any, tmp_path: Path
) -> None:
    m = with_via(samples[BLOCKED_UID], samples[OK_UID], WORKS)
    path = tmp_path / "via.jsonl"
    path.write_text(json.dumps(m) + "\n" + json.dumps(samples[OK_UID]) + "\n")
    done = CliRunner().invoke(app, ["verdicts", "--json", str(path)])
    assert done.exit_code == 0, done.output
    through, plain = (json.loads(x) for x in done.stdout.splitlines())
    assert {o["role"]: o["outcome"] for o in through["via"]} == {
        "telegram/dc": "restored",
        "telegram/web": "restored",
    }
    assert "via" not in plain


@pytest.mark.shared
def test_the_summary_tells_the_tool_and_each_blocked_role_once(samples: Any) -> None:
    m = with_via(samples[BLOCKED_UID], samples[OK_UID], TOOL_BLOCKED, udp=False)
    verdict = judge_bytes(msgspec.json.encode(m)).verdict
    ok = with_via(samples[OK_UID], samples[OK_UID], TOOL_BLOCKED, udp=False)
    twice = judge_via(m, verdict) + judge_via(ok, judge_bytes(msgspec.json.encode(ok)).verdict)
    lines = summary(twice, load_catalog())
    assert lines[0] == "Through tor (socks5; names resolved by the tool):"
    assert "tor itself is blocked on this network" in lines[1]
    assert "this tool cannot carry calls" in lines[2]
    told = [x for x in lines[3:] if "still blocked through tor" in x]
    assert len(told) == 2  # data centres and web, each once: where it was blocked
    assert len(lines) == 5
