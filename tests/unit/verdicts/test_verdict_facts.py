"""collect() indexes a measurement once; the rules read the index, never the lists again."""

from __future__ import annotations

from importlib import resources
from typing import Any

import msgspec
import pytest

from voipwatch.catalog import Catalog, load
from voipwatch.catalog.model import CatalogData
from voipwatch.ooni.fingerprints import Fingerprint, build_table
from voipwatch.ooni.model import Measurement, TestKeys
from voipwatch.verdicts import judge_bytes
from voipwatch.verdicts.engine import RULES, rule_for
from voipwatch.verdicts.evidence import dns_fingerprints, endpoint_outcome
from voipwatch.verdicts.facts import collect, requests_by_url


def keys(**tk: Any) -> TestKeys:
    return msgspec.convert(tk, TestKeys)


def connect(ip: str, port: int, failure: str | None) -> dict[str, Any]:
    return {"ip": ip, "port": port, "status": {"success": failure is None, "failure": failure}}


def test_connects_are_indexed_per_address_grouped_by_port_in_the_order_tried() -> None:
    tk = keys(
        tcp_connect=[
            connect("192.0.2.1", 443, "connection_reset"),
            connect("192.0.2.1", 5222, None),
            connect("192.0.2.1", 443, None),
            connect("192.0.2.2", 443, "generic_timeout_error"),
        ]
    )
    facts = collect(tk)
    assert facts.tcp_by_ip == {
        "192.0.2.1": [(443, "connection_reset"), (443, None), (5222, None)],
        "192.0.2.2": [(443, "generic_timeout_error")],
    }
    assert not facts.odd_failures


def test_a_connect_failing_with_the_dns_failure_string_is_still_the_evidence() -> None:
    # Odd data: a connect whose failure reads like an off-network DNS answer. The rule
    # searches every observation for it, as it did before the DNS-only fast path.
    role = load().roles["whatsapp/endpoints"]
    tk = keys(tcp_connect=[connect("192.0.2.9", 443, "dns_inconsistent_answer")])
    facts = collect(tk)
    assert facts.odd_failures
    o = endpoint_outcome(facts, role, host="192.0.2.9", expect_tls=False)
    assert o.ok is False
    assert o.evidence is not None
    assert (o.evidence.operation, o.evidence.failure) == ("resolve", "dns_inconsistent_answer")


def test_only_names_with_a_listed_answer_are_matched_against_fingerprints() -> None:
    fp = Fingerprint("censor_xx", "nat", "dns", "full", "10.10.34.35", 1, ("XX",))
    table = build_table("test", [fp], [])
    tk = keys(
        queries=[
            {
                "hostname": "blocked.example",
                "answers": [{"answer_type": "A", "ipv4": "10.10.34.35"}],
            },
            {"hostname": "fine.example", "answers": [{"answer_type": "A", "ipv4": "192.0.2.5"}]},
        ]
    )
    facts = collect(tk, cc="XX", fp_table=table)
    assert facts.dns["blocked.example"].suspect
    assert not facts.dns["fine.example"].suspect
    assert dns_fingerprints(facts, "blocked.example") == [("10.10.34.35", fp)]
    assert dns_fingerprints(facts, "fine.example") == []


def test_an_address_belongs_to_the_first_name_answered_with_it() -> None:
    # The index runs ip -> host; host -> ips is built only when a name without answers
    # of its own asks, and then says the same as the answers did.
    tk = keys(
        queries=[
            {
                "hostname": "first.example",
                "answers": [{"answer_type": "A", "ipv4": "192.0.2.1"}],
            },
            {
                "hostname": "second.example",
                "answers": [
                    {"answer_type": "A", "ipv4": "192.0.2.1"},
                    {"answer_type": "A", "ipv4": "192.0.2.2"},
                ],
            },
            {
                "hostname": "outside.example",
                "tags": ["control"],
                "answers": [{"answer_type": "A", "ipv4": "192.0.2.3"}],
            },
        ]
    )
    facts = collect(tk)
    assert facts.ip_hosts == {
        "192.0.2.1": "first.example",
        "192.0.2.2": "second.example",
        "192.0.2.3": "outside.example",
    }
    assert facts.ips_first_for("first.example") == ["192.0.2.1"]
    assert facts.ips_first_for("second.example") == ["192.0.2.2"]
    # Answered by the trusted resolver only: its addresses are still the name's.
    assert "outside.example" not in facts.dns
    assert facts.ips_first_for("outside.example") == ["192.0.2.3"]
    assert facts.ips_first_for("never.example") == []


def _tagged(ip: str, port: int, failure: str | None) -> dict[str, Any]:
    return {**connect(ip, port, failure), "tags": ["target"]}


def test_requests_are_grouped_by_url_every_attempt_kept_and_the_last_code_read() -> None:
    def request(url: str | None, failure: str | None, code: int | None) -> dict[str, Any]:
        return {
            "request": None if url is None else {"url": url},
            "failure": failure,
            "response": None if code is None else {"code": code},
        }

    reg, web = "https://v.whatsapp.net/v2/register", "https://web.whatsapp.com/"
    tk = keys(
        requests=[
            request(reg, "connection_reset", None),
            request(web, None, 200),
            request(None, "generic_timeout_error", None),
            request("", "generic_timeout_error", None),
            request(reg, None, 403),
        ]
    )
    attempts, codes = requests_by_url(tk)
    assert attempts == {reg: ["connection_reset", None], web: [None]}
    assert codes == {reg: 403, web: 200}


@pytest.mark.parametrize(
    "test_name", ["whatsapp", "telegram", "signal", "facebook_messenger", "voipwatch_zoom"]
)
def test_a_measurement_without_test_keys_fails_before_its_rule_is_asked(test_name: str) -> None:
    raw = msgspec.json.encode(
        {"test_name": test_name, "report_id": "r", "measurement_start_time": "2024-01-01 00:00:00"}
    )
    verdict = judge_bytes(raw).verdict
    assert (verdict.status, verdict.services, verdict.notes) == ("failure", [], ["no test_keys"])


def test_a_connect_that_failed_and_then_worked_makes_the_path_lossy() -> None:
    retried = keys(
        tcp_connect=[
            _tagged("192.0.2.1", 443, "generic_timeout_error"),
            _tagged("192.0.2.1", 443, None),
        ]
    )
    assert collect(retried).lossy
    # A censor that drops every SYN to the address: the same failure each time.
    dropped = keys(
        tcp_connect=[
            _tagged("192.0.2.1", 443, "generic_timeout_error"),
            _tagged("192.0.2.1", 443, "generic_timeout_error"),
            _tagged("192.0.2.2", 443, None),
        ]
    )
    assert collect(dropped).probe
    assert not collect(dropped).lossy


def test_rules_judge_by_the_catalogue_they_are_given() -> None:
    shipped = load()
    assert rule_for("whatsapp", shipped) is RULES["whatsapp"]
    assert rule_for("voipwatch_whatsapp", shipped) is not None
    assert rule_for("voipwatch_nosuchapp", shipped) is None
    # The same catalogue with Telegram's data centres on the media plane: the rule
    # reads the roles it was handed, not the shipped ones.
    data = msgspec.toml.decode(
        (resources.files("voipwatch.catalog") / "data" / "services.toml").read_bytes(),
        type=CatalogData,
    )
    moved = [
        msgspec.structs.replace(
            s,
            roles=[
                msgspec.structs.replace(r, plane="media") if r.id == "telegram/dc" else r
                for r in s.roles
            ],
        )
        for s in data.services
    ]
    other = Catalog(msgspec.structs.replace(data, services=moved))
    m = {
        "test_name": "telegram",
        "probe_cc": "IT",
        "test_keys": {"tcp_connect": [connect("149.154.175.50", 443, "generic_timeout_error")]},
    }
    status, services, _, _ = RULES["telegram"](msgspec.convert(m, Measurement), other)
    assert (status, [(v.role, v.plane, v.status) for v in services]) == (
        "anomaly",
        [("telegram/dc", "media", "blocked")],
    )
    raw = msgspec.json.encode(m)
    assert [v.plane for v in judge_bytes(raw, catalog=other).verdict.services] == ["media"]
    assert [v.plane for v in judge_bytes(raw).verdict.services] == ["signalling"]
