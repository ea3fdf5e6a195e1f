"""The verdict engine on committed fixtures: one per technique, plus edge cases."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from voipwatch.catalog import load
from voipwatch.ooni import fingerprints
from voipwatch.ooni.fingerprints import Fingerprint
from voipwatch.verdicts import Evidence, Verdict, judge_bytes, rules
from voipwatch.verdicts.evidence import combine
from voipwatch.verdicts.facts import Outcome
from voipwatch.verdicts.rules import RULES
from voipwatch.verdicts.techniques import TECHNIQUES, technique_for

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "measurements"
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
    raw = b'{"test_name": "dash", "report_id": "r", "test_keys": {}}'
    v = judge_bytes(raw).verdict
    assert v.status == "unsupported"
    assert v.services == []


def test_circumvention_test_without_its_keys_is_a_failure_not_unsupported() -> None:
    raw = b'{"test_name": "tor", "report_id": "r", "test_keys": {}}'
    v = judge_bytes(raw).verdict
    assert v.status == "failure"
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
        assert role.plane in ("signalling", "media", "web", "circumvention")


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


# ---------------------------------------------------------------------------------------
# confirmed on OONI data: only with a censor's fingerprint (OONI's lists)
# ---------------------------------------------------------------------------------------


def _judge(m: dict[str, Any]) -> Verdict:
    return judge_bytes(json.dumps(m).encode()).verdict


def _fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


#: Fixtures from OONI's probes (the rest are our own probe's, in the simulator).
OONI_MADE = sorted(n for n, f in MANIFEST.items() if not f["source"].startswith("voipwatch probe"))


@pytest.mark.parametrize("name", OONI_MADE)
def test_every_atom_on_ooni_data_names_the_rule_that_made_it(name: str) -> None:
    v = judge_bytes((FIXTURES / name).read_bytes()).verdict
    for s in v.services:
        for e in s.evidence:
            assert e.rule in RULES, (s.role, e)


def test_unspecified_answer_for_every_endpoint_is_anomaly_not_confirmed() -> None:
    v = judge_bytes((FIXTURES / "modified-whatsapp-dns-unspecified.json").read_bytes()).verdict
    assert v.status == "anomaly"
    blocked = [s for s in v.services if s.status == "blocked"]
    assert {s.role for s in blocked} == {
        "whatsapp/endpoints",
        "whatsapp/registration",
        "whatsapp/web",
    }
    for s in blocked:
        assert not s.confirmed
        assert s.technique == "dns.bogon"
        for e in s.evidence:
            assert (e.rule, e.fingerprint) == (rules.DNS_BOGON, "")
            assert "::" in e.detail
    assert "suspected" in RULES[rules.DNS_BOGON]


@pytest.mark.parametrize(
    "name", sorted(n for n, f in MANIFEST.items() if f["status"] == "confirmed")
)
def test_confirmed_fixture_names_its_fingerprint_and_scope(name: str) -> None:
    want = MANIFEST[name]["fingerprint"]
    table = fingerprints.load()
    scope = next(fp.scope for g in table.dns.values() for fp in g if fp.name == want)
    v = judge_bytes((FIXTURES / name).read_bytes()).verdict
    blocked = [s for s in v.services if s.status == "blocked"]
    assert blocked
    for s in blocked:
        assert s.confirmed
        assert s.evidence
        for e in s.evidence:
            assert (e.rule, e.fingerprint, e.scope) == (rules.FINGERPRINT_CENSOR, want, scope)
            assert want in e.detail


def test_censors_answer_seen_in_another_country_is_only_suspected() -> None:
    m = _fixture("modified-whatsapp-dns-censor-ip.json")
    m["probe_cc"], m["probe_asn"] = "DE", "AS3320"
    v = _judge(m)
    assert v.status == "anomaly"
    ep = next(s for s in v.services if s.role == "whatsapp/endpoints")
    assert (ep.status, ep.technique, ep.confirmed) == ("blocked", "dns.bogon", False)
    assert {e.rule for e in ep.evidence} == {rules.FINGERPRINT_ELSEWHERE}
    assert {e.fingerprint for e in ep.evidence} == {
        MANIFEST["modified-whatsapp-dns-censor-ip.json"]["fingerprint"]
    }


def test_vague_answer_is_named_but_proves_nothing() -> None:
    table = fingerprints.load()
    vague = next(fp for g in table.dns.values() for fp in g if fp.scope == "vbw")
    m = _fixture("whatsapp-ok.json")
    for q in m["test_keys"]["queries"]:
        if q["hostname"] == "e1.whatsapp.net":
            q["answers"] = [{"answer_type": "A", "ipv4": vague.pattern, "asn": 0}]
    v = _judge(m)
    assert v.status == "anomaly"
    ep = next(s for s in v.services if s.role == "whatsapp/endpoints")
    assert (ep.status, ep.confirmed) == ("partial", False)
    assert [(e.rule, e.fingerprint) for e in ep.evidence] == [(rules.FINGERPRINT_VAGUE, vague.name)]


def _body_fingerprint(scope_ok: Callable[[Fingerprint], bool]) -> Fingerprint:
    return next(
        fp
        for fp in fingerprints.load().http
        if fp.location == "body" and fp.pattern_type == "contains" and scope_ok(fp)
    )


def test_block_page_on_plain_http_is_confirmed_and_over_tls_proves_nothing() -> None:
    page = _body_fingerprint(lambda fp: fp.names_censor and "IT" in fp.countries)
    m = _fixture("telegram-ok.json")
    for r in m["test_keys"]["requests"]:
        if "web.telegram.org" not in r["request"]["url"]:  # every data centre
            r["response"] = {"code": 200, "body": f"<html>{page.pattern}</html>", "headers": {}}
    v = _judge(m)
    assert v.probe_cc == "IT"
    assert v.status == "confirmed"
    dc = next(s for s in v.services if s.role == "telegram/dc")
    assert (dc.status, dc.technique, dc.confirmed) == ("blocked", "http.blockpage", True)
    assert {(e.fingerprint, e.scope) for e in dc.evidence} == {(page.name, page.scope)}

    m = _fixture("signal-ok.json")
    m["probe_cc"] = page.countries[0]
    for r in m["test_keys"]["requests"]:
        r["response"] = {"code": 200, "body": page.pattern, "headers": {}}
    # Over a verified TLS connection the page came from the server itself.
    assert _judge(m).status == "ok"


def test_known_false_positive_clears_what_web_connectivity_flagged() -> None:
    harmless = _body_fingerprint(lambda fp: fp.scope == "fp")
    m = _fixture("webconnectivity-signal-tls-timeout.json")
    tk = m["test_keys"]
    tk["blocking"], tk["http_experiment_failure"] = "http-diff", None
    tk["requests"][0]["failure"] = None
    tk["requests"][0]["response"] = {"code": 200, "body": "", "headers": {}}
    flagged = _judge(m)
    assert flagged.status == "anomaly"
    (site,) = flagged.services
    assert {e.rule for e in site.evidence} == {rules.WEB_CONNECTIVITY}

    tk["requests"][0]["response"]["body"] = f"<html>{harmless.pattern}</html>"
    cleared = _judge(m)
    assert cleared.status == "ok"
    assert any(harmless.name in n for n in cleared.notes), cleared.notes


def test_technique_ties_are_broken_by_a_stated_order() -> None:
    cat = load()
    role = cat.roles["whatsapp/endpoints"]
    a = Outcome(False, Evidence("connect", "connection_refused", "a"), "tcp.refused")
    b = Outcome(False, Evidence("connect", "generic_timeout_error", "b"), "tcp.timeout")
    c = Outcome(False, Evidence("connect", "connection_refused", "c"), "tcp.refused")
    d = Outcome(False, Evidence("connect", "generic_timeout_error", "d"), "tcp.timeout")
    # Equal counts and equal confidence (0.7): the name decides, whatever the order.
    for outcomes in ([a, b, c, d], [d, c, b, a], [b, a, d, c]):
        assert combine(role, outcomes).technique == "tcp.refused"


def test_block_page_is_found_when_the_measurement_needs_the_tolerant_reading() -> None:
    page = _body_fingerprint(lambda fp: fp.names_censor and "IT" in fp.countries)
    m = _fixture("telegram-ok.json")
    for r in m["test_keys"]["requests"]:
        if "web.telegram.org" not in r["request"]["url"]:
            # A status code written as text sends the reading down its field-by-field path.
            r["response"] = {"code": "OK", "body": page.pattern, "headers": {"Server": "x"}}
    v = _judge(m)
    dc = next(s for s in v.services if s.role == "telegram/dc")
    assert any("response.code" in n for n in v.notes), v.notes
    assert (dc.status, dc.confirmed) == ("blocked", True)
    assert {e.fingerprint for e in dc.evidence} == {page.name}


def test_odd_bodies_and_headers_are_read_as_no_page_not_a_crash() -> None:
    m = _fixture("telegram-ok.json")
    odd: list[dict[str, Any]] = [
        {"code": 404, "body": {"format": "base64", "data": "!!not base64!!"}, "headers": "x"},
        {"code": 404, "body": 12345, "headers": [["Location"], ["Server", 7]]},
        {"code": 404, "body": {"format": "hex", "data": "00"}, "headers": {"Location": []}},
        {"code": 404, "body": ["a"], "headers": {"Location": ["http://example.org/"]}},
        {"code": 404, "body": {"format": "base64", "data": 5}, "headers": None},
    ]
    dcs = [r for r in m["test_keys"]["requests"] if "web.telegram.org" not in r["request"]["url"]]
    for i, r in enumerate(dcs):
        r["response"] = odd[i % len(odd)]
    v = _judge(m)
    assert v.status == "ok", v.notes
