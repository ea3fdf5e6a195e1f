"""Re-judging a saved measurement never changes its verdict, whatever the hash seed.

Each file is judged by ``voipwatch verdicts --json`` in fresh interpreters under
several ``PYTHONHASHSEED`` values, as a user re-judging old data would; every run
must print the same verdicts. The call-plane cases are ties: a role whose findings
name two techniques as often, which set order once decided.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from test_calls import ex, measurement

from voipwatch.verdicts import judge_bytes

FIXTURES = Path(__file__).parents[2] / "fixtures" / "measurements"
SEEDS = ("0", "1", "2", "3", "4", "5", "6")


def _ports_dropped_and_stun_filtered() -> list[dict[str, Any]]:
    """UDP dropped on one of the role's ports and STUN filtered by DPI on every port:
    on 3478 nothing passes, on 3479 only STUN fails; on the random port the filter
    kills STUN and random bytes pass."""
    r = "whatsapp/relay"
    return [
        ex(r, "helper", 3478, "stun_binding", False),
        ex(r, "helper", 3478, "random", False, control="same_port_other_payload"),
        ex(r, "helper", 3479, "stun_binding", False),
        ex(r, "helper", 3479, "random", True, control="same_port_other_payload"),
        ex(r, "helper", 40001, "stun_binding", False, control="random_port"),
        ex(r, "helper", 40001, "random", True, control="random_port"),
        ex(r, "helper", 443, "", True, transport="tcp"),
    ]


def _sip_port_and_protocol() -> list[dict[str, Any]]:
    r = "sip/signalling"
    return [
        ex(r, "helper", 5060, "sip_options", False),
        ex(r, "helper", 5060, "not_sip", True, control="same_port_other_payload"),
        ex(r, "helper", 5061, "sip_options", False, transport="tcp"),
        ex(r, "helper", 5061, "not_sip", False, control="same_port_other_payload", transport="tcp"),
        ex(r, "helper", 40001, "stun_binding", True, control="random_port"),
    ]


def _verdicts(path: Path, seed: str) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(NO_COLOR="1", PYTHONHASHSEED=seed)
    res = subprocess.run(
        [sys.executable, "-m", "voipwatch.cli", "verdicts", "--json", str(path)],
        capture_output=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr.decode("utf-8", "replace")[-2000:]
    return [json.loads(line) for line in res.stdout.splitlines()]


def test_ties_go_to_the_stated_order_in_process() -> None:
    raw = measurement("whatsapp", {"x_exchanges": _ports_dropped_and_stun_filtered()})
    (relay,) = [s for s in judge_bytes(raw).verdict.services if s.role == "whatsapp/relay"]
    # One port's finding says the port, the other's the protocol: the tie goes to
    # the narrower cause.
    assert (relay.status, relay.technique) == ("blocked", "udp.port")
    raw = measurement("generic", {"x_exchanges": _sip_port_and_protocol()})
    (sip,) = [s for s in judge_bytes(raw).verdict.services if s.role == "sip/signalling"]
    assert (sip.status, sip.technique) == ("blocked", "sip.port")


def test_rejudging_under_other_hash_seeds_gives_the_same_verdicts(tmp_path: Path) -> None:
    lines = [
        measurement("whatsapp", {"x_exchanges": _ports_dropped_and_stun_filtered()}),
        measurement("generic", {"x_exchanges": _sip_port_and_protocol()}),
        *(p.read_bytes().replace(b"\n", b" ") for p in sorted(FIXTURES.glob("*.json"))),
    ]
    saved = tmp_path / "saved.jsonl"
    saved.write_bytes(b"\n".join(lines) + b"\n")
    first = _verdicts(saved, SEEDS[0])
    assert len(first) == len(lines)
    techniques = {s["technique"] for v in first for s in v["services"]}
    assert {"udp.port", "sip.port"} <= techniques
    for seed in SEEDS[1:]:
        assert _verdicts(saved, seed) == first, f"PYTHONHASHSEED={seed} changed a verdict"
