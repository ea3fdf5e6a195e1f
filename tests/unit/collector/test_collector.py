"""The collector of ``voipwatch serve --collector-spool``: OONI's protocol, checked
before anything is kept, kept whole, and never the client's address.

Submissions are real OONI measurements (``tests/fixtures/measurements``, from OONI's
public samples), sent in-process to the app as a probe sends them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from voipwatch.helper.targets import Budget
from voipwatch.store import open_store
from voipwatch.web.app import create_app
from voipwatch.web.collector import MAX_MEASUREMENT

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "measurements"
URL = "http://127.0.0.1"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def meta(m: dict[str, Any]) -> dict[str, Any]:
    keys = ("test_name", "probe_cc", "probe_asn", "software_name", "software_version",
            "test_version", "test_start_time")  # fmt: skip
    return {k: m[k] for k in keys if isinstance(m.get(k), str)}


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def client(tmp_path: Path, spool: Path) -> Iterator[TestClient]:
    with open_store(tmp_path / "store.duckdb"):
        pass
    app = create_app(tmp_path / "store.duckdb", collector_spool=spool)
    with TestClient(app, base_url=URL) as c:
        yield c


def kept(spool: Path) -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_bytes()) for p in (spool / "incoming").glob("*.json")}


def open_report(client: TestClient, m: dict[str, Any]) -> str:
    r = client.post("/report", json=meta(m))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["supported_formats"] == ["json"]
    report_id: str = body["report_id"]
    return report_id


def test_open_submit_close(client: TestClient, spool: Path) -> None:
    m = fixture("whatsapp-ok.json")
    m["probe_ip"] = "203.0.113.77"  # a probe that did not scrub: the collector does
    rid = open_report(client, m)
    assert rid.split("_")[1:4] == ["whatsapp", "IT", "30722"]
    r = client.post(f"/report/{rid}", json={"format": "json", "content": m})
    assert r.status_code == 200, r.text
    uid = r.json()["measurement_uid"]
    assert uid.endswith(tuple("0123456789abcdef"))
    assert "_IT_whatsapp_" in uid
    # Sent again (the acknowledgement was lost): the same uid, kept once.
    again = client.post(f"/report/{rid}", json={"format": "json", "content": m})
    assert again.json() == {"measurement_uid": uid}
    assert client.post(f"/report/{rid}/close").json() == {}
    assert client.post(f"/report/{rid}/close").status_code == 200  # closing twice is fine
    stored = kept(spool)
    assert list(stored) == [f"{uid}.json"]
    (only,) = stored.values()
    assert only["probe_ip"] == "127.0.0.1"
    assert only["measurement_uid"] == uid
    assert only["test_keys"] == m["test_keys"]
    everything = b"".join(p.read_bytes() for p in spool.rglob("*") if p.is_file())
    assert b"203.0.113.77" not in everything
    assert not list((spool / "tmp").iterdir())


def _refused(r: Any, status: int, code: str | None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]
    if code is not None:
        assert r.json()["code"] == code


def test_bad_submissions_are_refused_and_change_nothing(client: TestClient, spool: Path) -> None:
    m = fixture("whatsapp-ok.json")
    rid = open_report(client, m)
    signal = fixture("signal-ok.json")
    no_keys = {k: v for k, v in m.items() if k != "test_keys"}
    cases: list[tuple[Any, int, str | None]] = [
        (b"{not json", 400, "bad_request"),
        (b"[1, 2]", 400, "bad_request"),
        ({"format": "yaml", "content": m}, 400, "bad_format"),
        ({"format": "json"}, 400, "bad_request"),
        ({"format": "json", "content": "a string"}, 400, "not_a_measurement"),
        ({"format": "json", "content": {"hello": "world"}}, 400, "not_a_measurement"),
        ({"format": "json", "content": no_keys}, 400, "not_a_measurement"),
        ({"format": "json", "content": signal}, 400, "wrong_test"),
    ]
    for body, status, code in cases:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        _refused(client.post(f"/report/{rid}", content=raw), status, code)
    assert kept(spool) == {}


def test_unknown_tests_unknown_and_closed_reports(client: TestClient, spool: Path) -> None:
    m = fixture("whatsapp-ok.json")
    _refused(client.post("/report", json={**meta(m), "test_name": "ndt"}), 400, "unknown_test")
    _refused(client.post("/report", json={**meta(m), "probe_cc": "Italy"}), 400, "bad_probe_cc")
    _refused(client.post("/report", content=b"\xff\xfe"), 400, "bad_request")
    body = {"format": "json", "content": m}
    _refused(client.post("/report/nope", json=body), 404, "no_such_report")
    fake = "20240101T000000Z_whatsapp_IT_30722_n1_AAAAAAAAAAAAAAAA"
    _refused(client.post(f"/report/{fake}", json=body), 404, "no_such_report")
    _refused(client.post(f"/report/{fake}/close"), 404, "no_such_report")
    _refused(client.post("/report/..%2F..%2Fetc/close"), 404, None)
    rid = open_report(client, m)
    client.post(f"/report/{rid}/close")
    _refused(client.post(f"/report/{rid}", json=body), 409, "report_closed")
    assert kept(spool) == {}


def test_oversized_bodies_are_refused_before_they_are_read(client: TestClient, spool: Path) -> None:
    m = fixture("whatsapp-ok.json")
    rid = open_report(client, m)
    m["test_keys"]["padding"] = "x" * MAX_MEASUREMENT
    r = client.post(f"/report/{rid}", json={"format": "json", "content": m})
    _refused(r, 413, None)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"format": "json", "content": '
        for _ in range(MAX_MEASUREMENT // 65536 + 2):
            yield b" " * 65536
        yield b"{}}"

    _refused(client.post(f"/report/{rid}", content=chunks()), 413, None)
    _refused(client.post("/report", content=b" " * 20_000), 413, None)
    assert kept(spool) == {}


def test_each_source_has_a_budget(tmp_path: Path, spool: Path) -> None:
    with open_store(tmp_path / "store.duckdb"):
        pass
    budget = Budget(requests_per_minute=3, connections_per_minute=0, concurrent_requests=2)
    app = create_app(tmp_path / "store.duckdb", collector_spool=spool, collector_budget=budget)
    m = fixture("telegram-ok.json")
    with TestClient(app, base_url=URL) as c:
        answers = [c.post("/report", json=meta(m)).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        r = c.post("/report", json=meta(m))
        _refused(r, 429, "rate_limited")
        assert r.headers["retry-after"] == "60"
        assert c.get("/api/v1/health").status_code == 200  # the rest of the site is not


def test_without_a_spool_there_is_no_collector(tmp_path: Path) -> None:
    with open_store(tmp_path / "store.duckdb"):
        pass
    with TestClient(create_app(tmp_path / "store.duckdb"), base_url=URL) as c:
        assert c.post("/report", json={"test_name": "whatsapp"}).status_code in (404, 405)
        assert "/report" not in c.get("/openapi.json").json()["paths"]
