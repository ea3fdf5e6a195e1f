"""``voipwatch demo`` runs offline on the bundled measurements."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voipwatch.cli import app


def test_demo_builds_a_store_and_shows_what_is_blocked(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    result = CliRunner().invoke(app, ["demo", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.splitlines()[-1])
    assert doc["ingest"]["new"] == doc["ingest"]["read"] >= 18
    assert doc["ingest"]["quarantined"] == 0
    techniques = {b["technique"] for b in doc["blocked"] if b["status"] != "down"}
    assert {"tls.mitm", "ip.blocked", "tcp.refused", "dns.nxdomain", "dns.bogon"} <= techniques
    assert any(b["role"] == "signal/sfu" and b["plane"] == "media" for b in doc["blocked"])
    counts = {r["test_name"]: r for r in doc["by_test"]["result"]}
    assert counts["whatsapp"]["measurement_count"] == 3

    again = CliRunner().invoke(app, ["demo", "--db", str(db), "--json"])
    assert again.exit_code == 0
    second = json.loads(again.stdout.splitlines()[-1])
    assert second["ingest"]["new"] == 0
    assert second["blocked"] == doc["blocked"]


def test_demo_on_a_fresh_machine_makes_its_own_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "never-created"))
    result = CliRunner().invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "never-created" / "voipwatch" / "voipwatch-demo.duckdb").is_file()
