"""Call-plane verdicts (``voipwatch_call``): each control isolates one variable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from voipwatch.ooni import exchange_entry
from voipwatch.testing import APP_IP, exchange
from voipwatch.verdicts import judge_bytes


def ex(
    role: str, target: str, port: int, payload: str, ok: bool, **fields: Any
) -> dict[str, object]:
    """An ``x_exchanges`` entry (the keywords of :func:`voipwatch.testing.exchange`)."""
    return exchange_entry(exchange(role, target, port, payload, ok, **fields))


def turn(
    *,
    helper_3478: bool = True,
    random: bool = True,
    other: bool = True,
    app: bool = True,
    failure: str = "generic_timeout_error",
) -> list[dict[str, Any]]:
    r = "signal/turn"
    return [
        ex(r, "app", 3478, "stun_binding", app, host="turn3.voip.signal.org", failure=failure),
        ex(r, "helper", 3478, "stun_binding", helper_3478, failure=failure),
        ex(r, "helper", 40001, "stun_binding", random, control="random_port"),
        ex(r, "helper", 3478, "random", other, control="same_port_other_payload", failure=failure),
        ex(r, "helper", 3478, "turn_allocate", helper_3478, failure=failure),
    ]


def measurement(app: str, tk: dict[str, Any]) -> bytes:
    return json.dumps({
        "test_name": "voipwatch_call", "test_version": "0.1.0", "input": app, "report_id": "r",
        "probe_cc": "ZZ", "probe_asn": "AS0", "measurement_start_time": "2026-11-22 10:00:00",
        "software_name": "voipwatch", "annotations": {"engine_name": "voipwatch"},
        "test_keys": {"failure": None, **tk},
    }).encode()  # fmt: skip


def role(raw: bytes, name: str) -> tuple[str, str | None, bool]:
    v = judge_bytes(raw).verdict
    (r,) = [s for s in v.services if s.role == name]
    return r.status, r.technique, r.confirmed


def test_clean_call_plane_is_ok() -> None:
    raw = measurement("signal", {"x_exchanges": turn()})
    assert role(raw, "signal/turn") == ("ok", None, False)
    assert judge_bytes(raw).verdict.status == "ok"


def test_stun_filtered_on_every_port_while_other_bytes_pass() -> None:
    raw = measurement("signal", {"x_exchanges": turn(app=False, helper_3478=False, random=False)})
    assert role(raw, "signal/turn") == ("blocked", "stun.dpi", True)


def test_port_blocked_when_a_random_port_works() -> None:
    raw = measurement("signal", {"x_exchanges": turn(app=False, helper_3478=False, other=False)})
    assert role(raw, "signal/turn") == ("blocked", "udp.port", True)


def test_port_rejected_with_icmp() -> None:
    raw = measurement(
        "signal",
        {
            "x_exchanges": turn(
                app=False, helper_3478=False, other=False, failure="connection_refused"
            )
        },
    )
    assert role(raw, "signal/turn") == ("blocked", "udp.icmp", True)


def test_a_closed_helper_port_is_a_broken_control_not_a_censor() -> None:
    r = "signal/turn"
    x = [
        ex(r, "app", 443, "stun_binding", False, host="turn3.voip.signal.org"),
        *(
            ex(r, "helper", 443, p, False, control=c, failure="connection_refused",
               rejected_by="target")
            for p, c in (("stun_binding", ""), ("random", "same_port_other_payload"))
        ),
        ex(r, "helper", 40001, "random", True, control="random_port"),
    ]  # fmt: skip
    raw = measurement("signal", {"x_exchanges": x})
    status, technique, confirmed = role(raw, r)
    assert (status, technique, confirmed) == ("failure", None, False)
    (v,) = judge_bytes(raw).verdict.services
    assert any("helper did not answer on udp/443" in e.detail for e in v.evidence)
    # A host rate-limits its ICMP errors: in another measurement of the run the same
    # closed port only timed out. The run's list of refused helper ports says it.
    silent = [{**e, "failure": "generic_timeout_error", "rejected_by": None} for e in x]
    raw = measurement("signal", {"x_exchanges": silent, "x_helper_closed": ["udp/443"]})
    assert role(raw, r) == ("failure", None, False)
    assert role(measurement("signal", {"x_exchanges": silent}), r)[:2] == ("blocked", "udp.port")
    # The same refusal sent by a router on the path is the censor's.
    x = [{**e, "rejected_by": "path"} if e.get("rejected_by") else e for e in x]
    assert role(measurement("signal", {"x_exchanges": x}), r) == ("blocked", "udp.icmp", True)


def test_a_port_block_needs_other_bytes_to_pass_on_another_port() -> None:
    """Call ports dropped and STUN filtered: STUN on the random port dies too, so only
    random bytes there tell the port from the protocol."""
    r = "whatsapp/relay"
    x = [
        ex(r, "helper", 3478, "stun_binding", False),
        ex(r, "helper", 3478, "random", False, control="same_port_other_payload"),
        ex(r, "helper", 40001, "stun_binding", False, control="random_port"),
        ex(r, "helper", 443, "", True, transport="tcp"),
    ]
    without = role(measurement("whatsapp", {"x_exchanges": x}), r)
    assert without[:2] == ("blocked", "udp.blocked")
    passes = ex(r, "helper", 40001, "random", True, control="random_port")
    raw = measurement("whatsapp", {"x_exchanges": [*x, passes]})
    assert role(raw, r) == ("blocked", "udp.port", True)


def test_no_path_to_the_outside_is_failure_on_every_role_never_confirmed() -> None:
    x = [
        *({**e, "success": False, "failure": "generic_timeout_error"} for e in turn()),
        ex("signal/turn", "helper", 443, "", False, transport="tcp"),
    ]
    v = judge_bytes(measurement("signal", {"x_exchanges": x})).verdict
    assert [(s.status, s.confirmed) for s in v.services] == [("failure", False)]
    assert "no control answered" in v.services[0].evidence[0].detail
    assert v.status == "failure"
    generic = measurement("generic", {
        "x_exchanges": [
            ex("stun/public", "public", 3478, "stun_binding", False, host="stun.example"),
            ex("stun/public", "helper", 3478, "stun_binding", False),
            ex("sip/signalling", "helper", 5060, "sip_options", False),
            ex("sip/signalling", "helper", 5060, "not_sip", False,
               control="same_port_other_payload"),
        ],
        "x_media_ab": {"original": None, "inverted": None},
        "x_throughput_ab": {
            "target_sni": "web.whatsapp.com", "control_sni": "control.voipwatch.test",
            "target": {"failure": "generic_timeout_error"},
            "control": {"failure": "generic_timeout_error"},
        },
    })  # fmt: skip
    v = judge_bytes(generic).verdict
    assert {s.status for s in v.services} == {"failure"}, v.services
    assert len(v.services) == 4
    assert v.status == "failure"


def test_an_app_server_that_says_nothing_listens_is_down() -> None:
    r = "signal/turn"
    refused = {"failure": "connection_refused", "rejected_by": "target"}
    x = [{**e, **refused} if e["target"] == "app" else e for e in turn(app=False)]
    raw = measurement("signal", {"x_exchanges": x})
    assert role(raw, r) == ("down", None, False)
    assert judge_bytes(raw).verdict.status == "ok"


def _outside(answers: bool | None) -> dict[str, Any]:
    """The control helper's STUN view of Signal's relay from outside the network."""
    if answers is None:
        return {"x_control": None, "x_control_failure": "generic_timeout_error"}
    result = {"success": answers, "failure": None if answers else "generic_timeout_error"}
    return {"x_control": {"stun": {f"{APP_IP}:3478": result}}}


@pytest.mark.parametrize(
    "garbage",
    [
        {"x_control": {"stun": "garbage"}},
        {"x_control": {"stun": {f"{APP_IP}:3478": "yes"}}},
        {"x_control": {"stun": {f"{APP_IP}:3478": {"success": "maybe"}}}},
        {"x_control": ["not", "an", "object"]},
        {"x_control": None, "x_control_failure": 5},
    ],
)
def test_a_garbled_outside_view_confirms_nothing(garbage: dict[str, Any]) -> None:
    """A helper answering garbage is no control: the relay is not confirmed blocked."""
    raw = measurement("signal", {"x_exchanges": turn(app=False), **garbage})
    status, _, confirmed = role(raw, "signal/turn")
    assert confirmed is False
    assert status in ("blocked", "anomaly", "failure", "down", "unknown")


def test_relay_address_blocked_when_the_helper_answers_on_the_same_port() -> None:
    raw = measurement("signal", {"x_exchanges": turn(app=False), **_outside(True)})
    assert role(raw, "signal/turn") == ("blocked", "ip.blocked", True)
    (v,) = judge_bytes(raw).verdict.services
    assert "from outside the network it answers" in v.evidence[0].detail


def test_a_relay_silent_from_outside_too_is_down_not_blocked() -> None:
    raw = measurement("signal", {"x_exchanges": turn(app=False), **_outside(False)})
    assert role(raw, "signal/turn") == ("down", None, False)
    assert judge_bytes(raw).verdict.status == "ok"
    # Without the outside view nothing tells down from blocked: not confirmed.
    raw = measurement("signal", {"x_exchanges": turn(app=False), **_outside(None)})
    assert role(raw, "signal/turn") == ("blocked", "ip.blocked", False)
    assert judge_bytes(raw).verdict.status == "anomaly"


def test_sip_filtered_by_protocol_or_port() -> None:
    r = "sip/signalling"
    dpi = [
        ex(r, "helper", 5060, "sip_options", False),
        ex(r, "helper", 5060, "not_sip", True, control="same_port_other_payload"),
    ]
    assert role(measurement("generic", {"x_exchanges": dpi}), r) == ("blocked", "sip.dpi", True)
    port = [
        ex(r, "helper", 5060, "sip_options", False),
        ex(r, "helper", 5060, "not_sip", False, control="same_port_other_payload"),
        ex(r, "helper", 40001, "stun_binding", True, control="random_port"),
    ]
    assert role(measurement("generic", {"x_exchanges": port}), r)[:2] == ("blocked", "sip.port")


def test_dtls_handshakes_filtered() -> None:
    r = "webrtc/media"
    x = [
        ex(r, "helper", 3478, "dtls_client_hello", False),
        ex(r, "helper", 3478, "random", True, control="same_port_other_payload"),
    ]
    assert role(measurement("generic", {"x_exchanges": x}), r) == ("blocked", "dtls.dpi", True)


def test_all_udp_dropped_but_tcp_works_is_an_allow_list() -> None:
    r = "sip/signalling"
    x = [
        ex(r, "helper", 5060, "stun_binding", False),
        ex(r, "helper", 40001, "stun_binding", False, control="random_port"),
        ex(r, "helper", 5060, "random", False, control="same_port_other_payload"),
        ex(r, "helper", 5060, "sip_options", True, transport="tcp"),
    ]
    # SIP over TCP still works: the role is partly blocked.
    assert role(measurement("generic", {"x_exchanges": x}), r)[:2] == ("partial", "udp.blocked")


def _ab(lo: float, li: float, diff: str) -> dict[str, Any]:
    s = {"sent": 100, "jitter_ms": 1.0, "throughput_kbps": 80.0}
    return {
        "original": {**s, "loss": lo, "received": int(100 * (1 - lo))},
        "inverted": {**s, "loss": li, "received": int(100 * (1 - li))},
        "area": 0.5 if diff == "detected" else 0.02,
        "ks_p": 0.001 if diff == "detected" else 0.7,
        "differentiation": diff,
    }


def test_media_ab_flags_shape_based_blocking_and_says_inconclusive_on_loss() -> None:
    detected = measurement("generic", {"x_media_ab": _ab(0.95, 0.0, "detected")})
    assert role(detected, "webrtc/media") == ("blocked", "media.dpi", True)
    lossy = measurement("generic", {"x_media_ab": _ab(0.3, 0.28, "inconclusive")})
    assert role(lossy, "webrtc/media") == ("degraded", "degraded.loss", False)
    assert judge_bytes(lossy).verdict.status == "ok"


def test_sni_throttling_is_degraded_with_the_rate() -> None:
    ab = {
        "target_sni": "web.whatsapp.com",
        "control_sni": "control.voipwatch.test",
        "target": {"bytes": 1000000, "seconds": 62.5, "rate_kbps": 128.0},
        "control": {"bytes": 1000000, "seconds": 0.01, "rate_kbps": 800000.0},
    }
    raw = measurement("generic", {"x_throughput_ab": ab})
    assert role(raw, "whatsapp/web") == ("degraded", "throttle.policed", True)
    v = judge_bytes(raw).verdict
    assert v.status == "confirmed" or v.status == "anomaly"
    assert "128 kbit/s" in v.services[0].evidence[0].detail


def test_two_fast_downloads_differing_by_chance_are_not_throttling() -> None:
    ab = {
        "target_sni": "web.whatsapp.com",
        "control_sni": "control.voipwatch.test",
        "target": {"bytes": 1000000, "seconds": 0.04, "rate_kbps": 200000.0},
        "control": {"bytes": 1000000, "seconds": 0.01, "rate_kbps": 900000.0},
    }
    raw = measurement("generic", {"x_throughput_ab": ab})
    assert role(raw, "whatsapp/web") == ("ok", None, False)


def _dl(rate: float, failure: str | None = None) -> dict[str, object]:
    seconds = 8e3 / rate if rate else 3.5
    return {
        "bytes": 1000000 if rate else 0,
        "seconds": seconds,
        "rate_kbps": rate,
        "failure": failure,
    }


def _slow_then(again: dict[str, object] | None) -> bytes:
    ab: dict[str, object] = {
        "target_sni": "web.whatsapp.com",
        "control_sni": "control.voipwatch.test",
        "target": _dl(5000.0),
        "control": _dl(400000.0),
    }
    if again is not None:
        ab["again"] = again
    return measurement("generic", {"x_throughput_ab": ab})


def test_a_slow_download_the_pair_made_again_does_not_repeat_is_not_throttling() -> None:
    """A busy machine slowed the app's download once: made again, both run alike."""
    fast = {"target": _dl(350000.0), "control": _dl(390000.0), "ratio": 0.9}
    assert role(_slow_then(fast), "whatsapp/web") == ("ok", None, False)


def test_a_throttle_slows_the_pair_made_again_too() -> None:
    slow = {"target": _dl(4800.0), "control": _dl(410000.0), "ratio": 0.0117}
    raw = _slow_then(slow)
    assert role(raw, "whatsapp/web") == ("degraded", "throttle.policed", True)
    detail = judge_bytes(raw).verdict.services[0].evidence[0].detail
    assert "5000 kbit/s" in detail
    assert "made again: 4800 against 410000 kbit/s" in detail


def test_a_pair_made_again_that_did_not_complete_leaves_the_throttle_unconfirmed() -> None:
    broken = {"target": _dl(4800.0), "control": _dl(0.0, "generic_timeout_error")}
    assert role(_slow_then(broken), "whatsapp/web") == ("degraded", "throttle.policed", False)


def test_one_pair_recorded_before_the_probe_made_it_again_is_judged_alone() -> None:
    assert role(_slow_then(None), "whatsapp/web") == ("degraded", "throttle.policed", True)
