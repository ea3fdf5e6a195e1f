"""Verdicts on the probe's own measurements: each control isolates one variable.

The measurements are built here in the probe's format (OONI templates with tags and
attempts), one per technique the simulator will produce.
"""

from __future__ import annotations

import json
from typing import Any

from voipwatch.verdicts import judge_bytes

HOST, URL, IP, GOOD = "chat.signal.org", "https://chat.signal.org/", "198.18.18.2", "198.18.18.2"
SINK = "198.18.250.66"


def measurement(
    *,
    system: list[str] | str,
    control: list[str] | None = None,
    udp: list[list[str]] | None = None,
    tcp: list[str | None] = (None,),  # type: ignore[assignment]
    tls: list[str | None] = (None,),  # type: ignore[assignment]
    tls_control: list[str | None] = (None,),  # type: ignore[assignment]
    http: list[str | None] = (None,),  # type: ignore[assignment]
    helper: dict[str, Any] | None = None,
) -> bytes:
    queries: list[dict[str, Any]] = []
    if isinstance(system, str):
        queries.append(
            {
                "hostname": HOST,
                "engine": "getaddrinfo",
                "failure": system,
                "answers": None,
                "tags": ["system"],
            }
        )
    else:
        queries.append(
            {
                "hostname": HOST,
                "engine": "getaddrinfo",
                "failure": None,
                "answers": [{"answer_type": "A", "ipv4": a} for a in system],
                "tags": ["system"],
            }
        )
    for a in control if control is not None else [GOOD]:
        queries.append(
            {
                "hostname": HOST,
                "engine": "doh",
                "failure": None,
                "answers": [{"answer_type": "A", "ipv4": a}],
                "tags": ["control"],
            }
        )
    for i, answers in enumerate(udp or []):
        queries.append(
            {
                "hostname": HOST,
                "engine": "udp",
                "failure": None,
                "transaction_id": 7,
                "x_ip_ttl": 63 + i,
                "answers": [{"answer_type": "A", "ipv4": a} for a in answers],
                "tags": ["udp"],
            }
        )
    addr = f"{IP}:443"
    tk: dict[str, Any] = {
        "failure": None,
        "failed_operation": None,
        "queries": queries,
        "tcp_connect": [
            {
                "ip": IP,
                "port": 443,
                "status": {"success": f is None, "failure": f},
                "tags": ["target"],
                "attempt": i,
            }
            for i, f in enumerate(tcp)
        ],
        "tls_handshakes": [
            {"address": addr, "server_name": HOST, "failure": f, "tags": ["target"], "attempt": i}
            for i, f in enumerate(tls)
        ]
        + [
            {
                "address": addr,
                "server_name": "control.voipwatch.test",
                "failure": f,
                "no_tls_verify": True,
                "tags": ["control_sni"],
                "attempt": i,
            }
            for i, f in enumerate(tls_control)
        ],
        "requests": [
            {
                "request": {"url": URL, "method": "GET"},
                "failure": f,
                "response": None if f else {"code": 200},
                "tags": ["target"],
                "attempt": i,
            }
            for i, f in enumerate(http)
        ],
        "signal_backend_status": "ok",
        "signal_backend_failure": None,
    }
    if helper is not None:
        tk["x_control"] = helper
    m = {
        "test_name": "signal",
        "test_version": "0.2.5",
        "report_id": "r",
        "probe_cc": "ZZ",
        "probe_asn": "AS0",
        "measurement_start_time": "2026-11-22 10:00:00",
        "software_name": "voipwatch",
        "annotations": {
            "engine_name": "voipwatch",
            "engine_version": "0.1.0",
            "voipwatch_routable": "198.18.0.0/15",
        },
        "test_keys": tk,
    }
    return json.dumps(m).encode()


def role(raw: bytes) -> tuple[str, str | None, bool, str]:
    v = judge_bytes(raw).verdict
    (r,) = [s for s in v.services if s.role == "signal/chat"]
    return r.status, r.technique, r.confirmed, v.status


def test_clean_run_is_ok_and_simulation_addresses_are_not_bogons() -> None:
    assert role(measurement(system=[GOOD])) == ("ok", None, False, "ok")


def test_sni_reset_is_confirmed_by_the_control_server_name() -> None:
    raw = measurement(
        system=[GOOD],
        tls=["connection_reset"] * 3,
        tls_control=[None],
        http=["connection_reset"] * 3,
    )
    assert role(raw) == ("blocked", "tls.reset", True, "confirmed")


def test_sni_drop_is_tls_timeout() -> None:
    raw = measurement(
        system=[GOOD], tls=["generic_timeout_error"] * 3, http=["generic_timeout_error"] * 3
    )
    assert role(raw)[:3] == ("blocked", "tls.timeout", True)


def test_reset_for_every_name_without_helper_is_not_confirmed() -> None:
    raw = measurement(
        system=[GOOD],
        tls=["connection_reset"] * 3,
        tls_control=["connection_reset"] * 3,
        http=["connection_reset"] * 3,
    )
    assert role(raw) == ("blocked", "tls.reset", False, "anomaly")


def test_ip_drop_confirmed_by_the_control_helper() -> None:
    helper = {"tcp_connect": {f"{IP}:443": {"success": True, "failure": None}}}
    raw = measurement(
        system=[GOOD],
        tcp=["generic_timeout_error"] * 3,
        tls=[],
        tls_control=[],
        http=["generic_timeout_error"] * 3,
        helper=helper,
    )
    assert role(raw) == ("blocked", "tcp.timeout", True, "confirmed")


def test_server_down_is_down_not_blocked() -> None:
    helper = {"tcp_connect": {f"{IP}:443": {"success": False, "failure": "connection_refused"}}}
    raw = measurement(
        system=[GOOD],
        tcp=["connection_refused"] * 3,
        tls=[],
        tls_control=[],
        http=["connection_refused"] * 3,
        helper=helper,
    )
    assert role(raw) == ("down", None, False, "ok")


def test_nxdomain_confirmed_by_trusted_resolver() -> None:
    raw = measurement(
        system="dns_nxdomain_error",
        tcp=[],
        tls=[],
        tls_control=[],
        http=["dns_nxdomain_error"],
        udp=[[GOOD]],
    )
    assert role(raw) == ("blocked", "dns.nxdomain", True, "confirmed")


def test_udp_hijack_is_udp_only() -> None:
    raw = measurement(
        system=[SINK],
        udp=[[SINK]],
        tcp=["generic_timeout_error"] * 3,
        tls=[],
        tls_control=[],
        http=["generic_timeout_error"],
    )
    assert role(raw)[:3] == ("blocked", "dns.udp_only", True)


def test_two_answers_to_one_query_is_injection() -> None:
    raw = measurement(system=[GOOD], udp=[[SINK], [GOOD]])
    assert role(raw)[:3] == ("blocked", "dns.injection", True)


def test_bogon_answer() -> None:
    raw = measurement(
        system=["10.10.34.35"],
        tcp=["generic_timeout_error"],
        tls=[],
        tls_control=[],
        http=["generic_timeout_error"],
    )
    assert role(raw)[:3] == ("blocked", "dns.bogon", True)


def test_mitm_certificate_confirmed_from_outside() -> None:
    helper = {"tls": {f"{IP}:443 {HOST}": {"success": True, "failure": None}}}
    raw = measurement(
        system=[GOOD],
        tls=["ssl_unknown_authority"] * 3,
        tls_control=[None],
        http=["ssl_unknown_authority"] * 3,
        helper=helper,
    )
    assert role(raw) == ("blocked", "tls.mitm", True, "confirmed")


def test_loss_is_degraded_never_blocked() -> None:
    raw = measurement(
        system=[GOOD],
        tcp=["generic_timeout_error", None],
        tls=[None],
        http=["generic_timeout_error", None],
    )
    assert role(raw) == ("degraded", "degraded.loss", False, "ok")


def test_timeouts_on_a_lossy_path_are_degraded_not_blocked() -> None:
    # Only one attempt each, but the control name timed out where the app's own
    # connection got through: a censor treats those packets alike, loss does not.
    raw = measurement(
        system=[GOOD],
        tcp=[None],
        tls=["generic_timeout_error"],
        tls_control=["generic_timeout_error"],
        http=["generic_timeout_error"],
    )
    assert role(raw) == ("degraded", "degraded.loss", False, "ok")


def test_sni_drop_on_a_clean_path_stays_blocked() -> None:
    raw = measurement(
        system=[GOOD],
        tcp=[None],
        tls=["generic_timeout_error"],
        tls_control=[None],
        http=["generic_timeout_error"],
    )
    assert role(raw)[:3] == ("blocked", "tls.timeout", True)
