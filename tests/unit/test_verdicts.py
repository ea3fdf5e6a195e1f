"""The verdict engine on committed fixtures: one per technique, plus edge cases."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from voipwatch.catalog import load
from voipwatch.verdicts import judge_bytes
from voipwatch.verdicts.techniques import TECHNIQUES, technique_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "measurements"
MANIFEST = tomllib.loads((FIXTURES / "MANIFEST.toml").read_text())["fixtures"]


def test_every_fixture_is_in_the_manifest() -> None:
    on_disk = {p.name for p in FIXTURES.glob("*.json")}
    assert on_disk == set(MANIFEST)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_fixture_verdict(name: str) -> None:
    expected = MANIFEST[name]
    v = judge_bytes((FIXTURES / name).read_bytes(), source=name).verdict
    assert v.status == expected["status"], v.notes
    got = {
        s.role: f"{s.status} {s.technique}" if s.technique else s.status
        for s in v.services
        if s.status != "ok" and v.status != "failure"
    }
    assert got == expected.get("roles", {})


def _backs(technique: str, operation: str, failure: str, detail: str) -> bool:
    if technique == "ip.blocked" and operation == "connect":
        return "every port" in detail or technique_for(operation, failure) == technique
    return technique_for(operation, failure) == technique


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_blocked_roles_name_a_technique_backed_by_evidence(name: str) -> None:
    v = judge_bytes((FIXTURES / name).read_bytes()).verdict
    for s in v.services:
        if s.status in ("blocked", "partial"):
            assert s.technique in TECHNIQUES
            assert s.evidence, f"{s.role} has no evidence"
            assert any(_backs(s.technique, e.operation, e.failure, e.detail) for e in s.evidence)
            assert 0.0 < s.confidence <= 1.0


def test_technique_fixture_for_each_technique_the_samples_show() -> None:
    shown = {"tls.mitm", "ip.blocked", "tcp.refused", "tls.timeout", "dns.nxdomain"}
    covered = {
        r.split()[1]
        for f in MANIFEST.values()
        if "modified" not in f
        for r in f.get("roles", {}).values()
        if " " in r
    }
    assert shown <= covered


def test_partial_telegram_is_not_ok_although_ooni_would_say_so() -> None:
    # OONI's "any DC works" rule: 4 of 6 DCs answer, so telegram_tcp_blocking is false.
    v = judge_bytes((FIXTURES / "modified-telegram-dc-partial.json").read_bytes()).verdict
    dc = next(s for s in v.services if s.role == "telegram/dc")
    assert dc.status == "partial"
    assert {e.target for e in dc.evidence} == {"149.154.175.50", "149.154.175.100"}


def test_verdict_object_has_the_design_fields() -> None:
    import msgspec

    v = judge_bytes((FIXTURES / "signal-tls-mitm.json").read_bytes()).verdict
    obj = msgspec.to_builtins(v)
    for key in (
        "measurement_uid",
        "report_id",
        "test_name",
        "probe_cc",
        "probe_asn",
        "measurement_start_time",
        "status",
        "services",
    ):
        assert key in obj
    for s in obj["services"]:
        assert set(s) >= {
            "service",
            "role",
            "plane",
            "status",
            "technique",
            "confidence",
            "evidence",
        }


def test_non_im_test_is_unsupported() -> None:
    raw = b'{"test_name": "tor", "report_id": "r", "test_keys": {}}'
    v = judge_bytes(raw).verdict
    assert v.status == "unsupported"
    assert v.services == []


def test_web_connectivity_of_other_sites_is_unsupported() -> None:
    raw = (
        b'{"test_name": "web_connectivity", "input": "https://example.org/",'
        b' "test_keys": {"blocking": "dns", "accessible": false}}'
    )
    assert judge_bytes(raw).verdict.status == "unsupported"


def test_identity_is_stable_and_uid_is_ooni_shaped() -> None:
    raw = (FIXTURES / "whatsapp-ok.json").read_bytes()
    a, b = judge_bytes(raw), judge_bytes(raw.replace(b"\n", b" "))
    assert a.key == b.key
    uid = a.verdict.measurement_uid
    assert uid.split("_")[1:3] == ["IT", "whatsapp"]


def test_catalogue_roles_are_consistent() -> None:
    cat = load()
    assert cat.role_for_host("e12.whatsapp.net").id == "whatsapp/endpoints"
    assert cat.role_for_host("web.whatsapp.com").id == "whatsapp/web"
    assert cat.role_for_host("www.viber.com").id == "viber/site"
    assert cat.role_for_ip("149.154.167.91").id == "telegram/dc"
    for role in cat.roles.values():
        assert role.plane in ("signalling", "media", "web")


def test_off_network_answer_on_tcp_only_role_is_evidence_even_if_connect_works() -> None:
    import json

    m = json.loads((FIXTURES / "whatsapp-ok.json").read_text())
    for q in m["test_keys"]["queries"]:
        if q["hostname"] == "e1.whatsapp.net":
            for a in q["answers"]:
                a["asn"] = 12389  # a national operator's network, not WhatsApp's
    v = judge_bytes(json.dumps(m).encode()).verdict
    ep = next(s for s in v.services if s.role == "whatsapp/endpoints")
    assert (ep.status, ep.technique) == ("partial", "dns.inconsistent")
    assert ep.evidence[0].target == "e1.whatsapp.net"
    assert "AS12389" in ep.evidence[0].detail


def test_signal_without_failure_keys_is_unusable_like_in_ooni() -> None:
    import json

    m = json.loads((FIXTURES / "signal-ok.json").read_text())
    del m["test_keys"]["failed_operation"]
    v = judge_bytes(json.dumps(m).encode()).verdict
    assert v.status == "failure"
    assert "missing" in v.notes[0]
