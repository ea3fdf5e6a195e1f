"""Telegram's own answer (MTProto resPQ) and networks that accept every connection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from voipwatch.probe.summary import summary
from voipwatch.verdicts import judge_bytes

OK = Path(__file__).parents[2] / "fixtures" / "measurements" / "telegram-ok.json"
DCS = ("149.154.175.50:443", "149.154.167.51:443")


def _telegram(mtproto: list[dict[str, Any]], accept_all: bool | None) -> bytes:
    m = json.loads(OK.read_bytes())
    m["test_keys"]["x_mtproto"] = mtproto
    if accept_all is not None:
        m["test_keys"]["x_accept_all"] = {
            "address": "149.154.175.50:1",
            "connected": accept_all,
            "failure": None if accept_all else "connection_refused",
        }
    return json.dumps(m).encode()


def _answer(address: str, failure: str | None) -> dict[str, Any]:
    detail = "resPQ" if failure is None else "no answer after the connect"
    return {"address": address, "connected": True, "failure": failure, "detail": detail}


def _dc(raw: bytes) -> tuple[str, str | None, bool]:
    v = judge_bytes(raw).verdict
    (dc,) = [s for s in v.services if s.role == "telegram/dc"]
    return dc.status, dc.technique, dc.confirmed


def test_a_valid_res_pq_from_every_data_centre_keeps_ok() -> None:
    raw = _telegram([_answer(a, None) for a in DCS], accept_all=False)
    assert _dc(raw) == ("ok", None, False)
    assert judge_bytes(raw).verdict.status == "ok"


def test_connect_then_silence_on_an_accept_everything_network_is_confirmed() -> None:
    raw = _telegram([_answer(a, "mtproto_no_answer") for a in DCS], accept_all=True)
    assert _dc(raw) == ("blocked", "tcp.accept_then_drop", True)
    v = judge_bytes(raw).verdict
    assert v.status == "confirmed"
    assert any("accepts every connection" in n for n in v.notes)
    warning = summary([v])[0]
    assert warning.startswith("Warning: This network accepts every connection")
    assert "149.154.175.50:1" in warning


def test_connect_then_silence_without_the_accept_all_control_is_an_anomaly() -> None:
    raw = _telegram([_answer(a, "mtproto_no_answer") for a in DCS], accept_all=False)
    assert _dc(raw) == ("blocked", "tcp.accept_then_drop", False)
    v = judge_bytes(raw).verdict
    assert v.status == "anomaly"
    assert not any(line.startswith("Warning") for line in summary([v]))
    (dc,) = [s for s in v.services if s.role == "telegram/dc"]
    assert {e.target for e in dc.evidence} == set(DCS)
    assert all(e.operation == "mtproto" for e in dc.evidence)


def test_one_data_centre_silent_is_partial_and_a_garbled_answer_counts_as_none() -> None:
    bad = {**_answer(DCS[1], "mtproto_bad_answer"), "detail": "truncated answer"}
    raw = _telegram([_answer(DCS[0], None), bad], accept_all=None)
    assert _dc(raw) == ("partial", "tcp.accept_then_drop", False)
    v = judge_bytes(raw).verdict
    (dc,) = [s for s in v.services if s.role == "telegram/dc"]
    assert dc.evidence[0].detail.endswith("truncated answer")


def test_unreached_data_centres_leave_the_rules_verdict() -> None:
    """No connect, no claim about the app's answer: the connect failure is the rule's."""
    refused = {"address": DCS[0], "connected": False, "failure": "connection_refused"}
    raw = _telegram([refused], accept_all=False)
    assert _dc(raw) == ("ok", None, False)


def test_silence_after_a_connect_on_an_accept_everything_network_names_it() -> None:
    """Telegram Web's handshake timing out after the connect, which a lossy path was
    blamed for: on a network that completes every connect, the middlebox did it."""
    m = json.loads(_telegram([_answer(a, "mtproto_no_answer") for a in DCS], accept_all=True))
    m["test_keys"]["telegram_web_failure"] = "generic_timeout_error"
    m["test_keys"]["telegram_web_status"] = "blocked"
    for r in m["test_keys"]["requests"]:
        if "web.telegram.org" in str(r.get("request", {}).get("url", "")):
            r["failure"] = "generic_timeout_error"
            r["response"] = None
    raw = json.dumps(m).encode()
    v = judge_bytes(raw).verdict
    (web,) = [s for s in v.services if s.role == "telegram/web"]
    assert (web.technique, web.confirmed) == ("tcp.accept_then_drop", True)
    assert web.status in ("blocked", "partial")
    # Without the accept-all control the rule's own technique stands.
    m["test_keys"]["x_accept_all"]["connected"] = False
    v = judge_bytes(json.dumps(m).encode()).verdict
    (web,) = [s for s in v.services if s.role == "telegram/web"]
    assert web.technique != "tcp.accept_then_drop"


def test_nothing_reaching_the_outside_is_failure_never_a_technique() -> None:
    """Every connect timed out, the trusted resolver too, the control helper unreachable."""
    m = json.loads(OK.read_bytes())
    tk = m["test_keys"]
    for c in tk["tcp_connect"]:
        c["status"] = {"success": False, "failure": "generic_timeout_error", "blocked": True}
    for r in tk["requests"]:
        r["failure"], r["response"] = "generic_timeout_error", None
    for h in tk.get("tls_handshakes") or []:
        h["failure"] = "generic_timeout_error"
    tk["x_control"], tk["x_control_failure"] = None, "generic_timeout_error"
    tk["telegram_tcp_blocking"] = tk["telegram_http_blocking"] = True
    tk["telegram_web_failure"], tk["telegram_web_status"] = "generic_timeout_error", "blocked"
    v = judge_bytes(json.dumps(m).encode()).verdict
    assert {s.status for s in v.services} == {"failure"}, v.services
    assert not any(s.confirmed or s.technique for s in v.services)
    assert v.status == "failure"
    assert any(n.startswith("nothing reached the outside") for n in v.notes)
    # The same failures with the control helper answering from outside: judged as usual.
    tk["x_control"], tk["x_control_failure"] = {"tcp_connect": {}}, None
    v = judge_bytes(json.dumps(m).encode()).verdict
    assert "blocked" in {s.status for s in v.services}


def test_connect_only_roles_are_unreliable_where_everything_connects() -> None:
    """WhatsApp's endpoints are judged on a connect: on an accept-everything network an
    ok there is no longer evidence; its TLS-checked roles keep their verdicts."""
    path = OK.parent / "whatsapp-ok.json"
    m = json.loads(path.read_bytes())
    m["test_keys"]["x_accept_all"] = {"address": "31.13.86.51:1", "connected": True}
    v = judge_bytes(json.dumps(m).encode()).verdict
    roles = {s.role: s for s in v.services}
    assert roles["whatsapp/endpoints"].status == "unknown"
    assert "proves nothing" in roles["whatsapp/endpoints"].evidence[0].detail
    assert roles["whatsapp/registration"].status == "ok"
    assert summary([v])[0].startswith("Warning: This network accepts every connection")
    m["test_keys"]["x_accept_all"]["connected"] = False
    v = judge_bytes(json.dumps(m).encode()).verdict
    assert {s.status for s in v.services} == {"ok"}


def test_an_interceptor_behind_a_connect_only_role_is_tls_mitm() -> None:
    """Messenger's roles are judged on a connect; the handshake voipwatch adds shows
    the certificate is not Facebook's. From outside, the control sees a valid one."""
    m = json.loads((OK.parent / "messenger-ok-legacy-keys.json").read_bytes())
    edge = "edge-mqtt.facebook.com"
    m["test_keys"]["tls_handshakes"] = [
        {"address": "157.240.1.1:443", "server_name": edge, "failure": "ssl_unknown_authority",
         "tags": ["target"], "attempt": a}
        for a in (0, 1)
    ]  # fmt: skip

    def edge_verdict() -> tuple[str, str | None, bool]:
        v = judge_bytes(json.dumps(m).encode()).verdict
        (s,) = [s for s in v.services if s.role == "messenger/edge"]
        others = {x.status for x in v.services if x.role != "messenger/edge"}
        assert others <= {"ok"}, v.services
        return s.status, s.technique, s.confirmed

    assert edge_verdict() == ("blocked", "tls.mitm", False)
    m["test_keys"]["x_control"] = {
        "tls": {f"157.240.1.1:443 {edge}": {"success": True, "failure": None}}
    }
    assert edge_verdict() == ("blocked", "tls.mitm", True)
    # A handshake that verifies is the service's own answer: ok stays.
    for h in m["test_keys"]["tls_handshakes"]:
        h["failure"] = None
    assert edge_verdict() == ("ok", None, False)
