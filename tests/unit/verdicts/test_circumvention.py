"""OONI's circumvention tests judged on the ``circumvention`` plane, and a blocked tool
becoming an event.

The measurements are written here from the verdict each should get, in the shapes of
the specs (ts-015, ts-016, ts-023, ts-026, ts-030, ts-040); the real samples are
judged against OONI's fastpath in ``tests/integration/test_fastpath_agreement.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from voipwatch.events.cells import build_cells
from voipwatch.events.detect import detect_events
from voipwatch.events.store import save_events
from voipwatch.store import open_store
from voipwatch.testing import Block, Network, World, insert
from voipwatch.verdicts import Verdict, judge_bytes
from voipwatch.verdicts.rules import RULES
from voipwatch.web.app import create_app


def _judge(test_name: str, test_keys: dict[str, Any], **base: Any) -> Verdict:
    m = {
        "test_name": test_name,
        "test_version": "0.4.0",
        "probe_cc": "IR",
        "probe_asn": "AS44244",
        "measurement_start_time": "2026-01-10 10:00:00",
        "report_id": f"r-{test_name}",
        "test_keys": test_keys,
        **base,
    }
    v = judge_bytes(json.dumps(m).encode()).verdict
    for s in v.services:
        assert s.plane == "circumvention"
        assert not s.confirmed  # none of these tests has a control
        assert all(e.rule in RULES for e in s.evidence), s.evidence
    return v


def _target(protocol: str, address: str, failure: object, op: str = "") -> dict[str, Any]:
    t: dict[str, Any] = {
        "target_protocol": protocol,
        "target_address": address,
        "failure": failure,
        "network_events": [],
    }
    ip, port = address.rsplit(":", 1)
    if op == "connect":
        t["tcp_connect"] = [{"ip": ip, "port": int(port), "status": {"failure": failure}}]
    elif op == "tls":
        t["tcp_connect"] = [{"ip": ip, "port": int(port), "status": {"failure": None}}]
        t["tls_handshakes"] = [{"address": address, "failure": failure}]
    return t


def _role(v: Verdict, role: str) -> tuple[str, str | None]:
    (s,) = [s for s in v.services if s.role == role]
    return s.status, s.technique


def test_tor_bridges_dropped_while_the_directory_answers() -> None:
    targets = {
        "1.0.0.1:9030": _target("dir_port", "1.0.0.1:9030", None),
        "1.0.0.2:80": _target("dir_port", "1.0.0.2:80", None),
        "1.0.0.1:9001": _target("or_port_dirauth", "1.0.0.1:9001", None, "tls"),
        **{
            f"bridge{i}": _target("obfs4", f"2.0.0.{i}:443", "generic_timeout_error", "connect")
            for i in range(4)
        },
        "notrun": _target("obfs4", "2.0.0.9:443", False),
    }
    v = _judge("tor", {"targets": targets})
    assert v.status == "anomaly"
    assert _role(v, "tor/obfs4") == ("blocked", "tcp.timeout")
    assert _role(v, "tor/directory") == ("ok", None)
    assert _role(v, "tor/relays") == ("ok", None)
    (obfs4,) = [s for s in v.services if s.role == "tor/obfs4"]
    # The target that did not run is neither a success nor a failure.
    assert sorted(e.target for e in obfs4.evidence) == [f"2.0.0.{i}:443" for i in range(4)]
    # One observation per target that ran, with its role and layer.
    j = judge_bytes(
        json.dumps(
            {"test_name": "tor", "report_id": "r", "test_keys": {"targets": targets}}
        ).encode()
    )
    assert len(j.observations) == 7
    assert {(o.role, o.layer, o.ok) for o in j.observations} == {
        ("tor/directory", "http", True),
        ("tor/relays", "tcp", True),
        ("tor/obfs4", "tcp", False),
    }


def test_tor_relays_reset_on_tls_for_most_targets_is_partial() -> None:
    targets = {
        f"r{i}": _target("or_port", f"3.0.0.{i}:9001", "connection_reset", "tls") for i in range(3)
    }
    targets["r9"] = _target("or_port", "3.0.0.9:9001", None, "tls")
    v = _judge("tor", {"targets": targets})
    assert _role(v, "tor/relays") == ("partial", "tls.reset")


def test_one_tor_authority_out_is_routine_not_a_sign() -> None:
    targets = {f"d{i}": _target("dir_port", f"4.0.0.{i}:80", None) for i in range(4)}
    targets["d9"] = _target("dir_port", "4.0.0.9:80", "Get http://4.0.0.9:80/x: eof_error")
    v = _judge("tor", {"targets": targets})
    assert v.status == "ok"
    (d,) = v.services
    assert d.status == "ok"
    assert [(e.operation, e.failure) for e in d.evidence] == [("http_request", "eof_error")]


def test_vanilla_tor_stuck_connecting_names_no_technique() -> None:
    tk = {
        "failure": "generic_timeout_error",
        "success": False,
        "tor_progress": 10,
        "tor_progress_tag": "conn_done",
        "tor_progress_summary": "Connected to a relay",
        "tor_logs": ["Bootstrapped 10% (conn_done): Connected to a relay"],
    }
    v = _judge("vanilla_tor", tk)
    assert v.status == "anomaly"
    (s,) = v.services
    assert (s.role, s.status, s.technique) == ("tor/relays", "blocked", None)
    assert "10%" in s.evidence[0].detail


def test_vanilla_tor_of_old_probes_is_read_from_its_log() -> None:
    done = {"tor_logs": ["Bootstrapped 50%: Loading", "Bootstrapped 100%: Done"]}
    assert _judge("vanilla_tor", done).status == "ok"
    # Without a log, a progress or a success key, OONI does not score it either.
    assert _judge("vanilla_tor", {"failure": None}).status == "failure"


def test_psiphon_started_but_could_not_carry_a_request() -> None:
    v = _judge("psiphon", {"failure": "connection_reset", "bootstrap_time": 4.2})
    (s,) = v.services
    assert (s.role, s.status) == ("psiphon/tunnel", "blocked")
    assert "started in 4.2 s" in s.evidence[0].detail
    assert _judge("psiphon", {"failure": None, "bootstrap_time": 3.0}).status == "ok"
    # No failure and no bootstrap time: the run says nothing (OONI marks it so too).
    assert _judge("psiphon", {"failure": None, "bootstrap_time": 0}).status == "failure"


def test_openvpn_handshake_cut_after_the_connection_opened() -> None:
    tk: dict[str, Any] = {
        "success": False,
        "success_handshake": False,
        "failure": "generic_timeout_error",
        "remote": "5.0.0.1:1194",
        "provider": "riseup",
        "tcp_connect": [{"ip": "5.0.0.1", "port": 1194, "status": {"success": True}}],
    }
    (s,) = _judge("openvpn", tk).services
    assert (s.role, s.status, s.technique) == ("openvpn/tunnel", "blocked", "vpn.handshake")
    assert s.evidence[0].target == "5.0.0.1:1194"
    # Without the connect's record the handshake's failure names no technique ...
    del tk["tcp_connect"]
    (s,) = _judge("openvpn", tk).services
    assert (s.status, s.technique) == ("blocked", None)
    assert "not recorded" in s.evidence[0].detail
    # ... and a connect that failed names the connect's.
    tk["tcp_connect"] = [
        {
            "ip": "5.0.0.1",
            "port": 1194,
            "status": {"success": False, "failure": "generic_timeout_error"},
        }
    ]
    assert _judge("openvpn", tk).services[0].technique == "tcp.timeout"
    refused = _judge("openvpn", {"success": False, "failure": "connection_refused"})
    assert refused.services[0].technique == "tcp.refused"
    assert _judge("openvpn", {"failure": None}).status == "failure"


def test_riseupvpn_transport_blocked_only_when_no_gateway_offers_it() -> None:
    tk = {
        "api_status": "ok",
        "ca_cert_status": True,
        "transport_status": {"openvpn": "ok", "obfs4": "blocked"},
        "failing_gateways": [
            {"ip": "6.0.0.1", "port": 23042, "transport_type": "obfs4"},
            {"ip": "6.0.0.2", "port": 443, "transport_type": "openvpn"},
        ],
    }
    v = _judge("riseupvpn", tk)
    assert _role(v, "riseupvpn/api") == ("ok", None)
    assert _role(v, "riseupvpn/gateways") == ("partial", None)
    tk["transport_status"] = {"openvpn": "ok", "obfs4": "ok"}
    v = _judge("riseupvpn", tk)
    assert v.status == "ok"
    # The CA certificate could not be fetched: a certificate error is a failed
    # handshake, not proof of interception (no fingerprint, no control).
    api_down = {
        "api_status": "blocked",
        "ca_cert_status": False,
        "requests": [
            {"failure": "ssl_invalid_certificate", "request": {"url": "https://x.example/ca.crt"}}
        ],
    }
    v = _judge("riseupvpn", api_down)
    assert [(s.role, s.status, s.technique) for s in v.services] == [
        ("riseupvpn/api", "blocked", "tls.failure")
    ]
    assert v.services[0].evidence[0].target == "https://x.example/ca.crt"


def test_torsf_failure_and_the_release_oonis_fastpath_discards() -> None:
    tk = {"failure": "generic_timeout_error", "bootstrap_time": 0, "tor_progress": 0}
    assert _judge("torsf", tk).status == "anomaly"
    android = {"software_name": "ooniprobe-android", "software_version": "3.8.3"}
    assert _judge("torsf", tk, **android).status == "failure"


def test_a_tool_blocked_in_a_country_is_an_event(tmp_path: Path) -> None:
    """Tor's bridges blocked on two Iranian networks from 10 January: a national event
    on the circumvention plane, and none for the relays nor for Germany."""
    tools = {"tor": [("obfs4", "circumvention"), ("relays", "circumvention")]}
    world = World(
        [Network("IR", 100, 24), Network("IR", 101, 12), Network("DE", 300, 12)],
        blocks=[
            Block("IR", (100, 101), "tor", ("obfs4",), datetime(2026, 1, 12, 6), None,
                  technique="tcp.timeout"),
        ],
        services=tools,
    )  # fmt: skip
    db = tmp_path / "tools.duckdb"
    with open_store(db) as store:
        insert(store, world.rows())
        build_cells(store)
        events = detect_events(store)
        save_events(store, events)
    blocks = [e for e in events if e.kind == "block"]
    assert [(e.probe_cc, e.service, e.plane, e.roles) for e in blocks] == [
        ("IR", "tor", "circumvention", ["tor/obfs4"])
    ]
    (e,) = blocks
    assert e.techniques == ["tcp.timeout"]
    assert e.asns == [100, 101]
    assert abs((e.start - datetime(2026, 1, 12, 6, tzinfo=UTC)).total_seconds()) < 6 * 3600
    # The faces take the plane: a filter of the API, a tool named alone on its page.
    client = TestClient(create_app(db), base_url="http://127.0.0.1")
    agg = client.get("/api/v1/aggregation?axis_x=service&plane=circumvention")
    assert agg.status_code == 200, agg.text
    assert [r["service"] for r in agg.json()["result"]] == ["tor"]
    page = client.get(f"/event/{e.event_id}")
    assert page.status_code == 200
    assert "Tor messaging" not in page.text
    assert "tor/obfs4" in page.text
