"""``voipwatch probe`` and ``voipwatch helper``: consent, usage errors, output (loopback only)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.testing import DnsServer, loopback_ip

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """User config and data directories of a user who has never run the probe."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def config_file(tmp_path: Path) -> Iterator[Path]:
    """A probe configuration whose resolver (on loopback) knows no name at all."""
    dns = DnsServer(loopback_ip(), {}, 0)
    path = tmp_path / "probe.toml"
    path.write_text(
        f"""
[probe]
probe_cc = "IT"
retries = 0
[probe.resolvers]
system = false
udp = ["{dns.address}"]
doh = []
dot = []
[probe.timeouts]
dns = 0.5
connect = 0.5
tls = 0.5
http = 0.5
run = 5.0
"""
    )
    yield path
    dns.close()


def test_no_consent_without_a_terminal(dirs: Path, config_file: Path) -> None:
    r = CliRunner().invoke(app, ["probe", "--config", str(config_file), "--apps", "zoom"])
    assert r.exit_code == 2
    assert "consent" in r.output
    assert "--yes" in r.output
    assert not (dirs / "data").exists()  # nothing was measured


def test_consent_asked_and_remembered(
    dirs: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("voipwatch.probe.consent.interactive", lambda: True)
    out = dirs / "m.jsonl"
    args = ["probe", "--config", str(config_file), "--apps", "zoom", "--out", str(out)]
    r = CliRunner().invoke(app, args, input="n\n")
    assert r.exit_code == 2
    assert "operator" in r.output
    r = CliRunner().invoke(app, args, input="y\n")
    assert r.exit_code == 0, r.output
    assert (dirs / "config" / "voipwatch" / "consent").is_file()
    r = CliRunner().invoke(app, args)  # no question the second time
    assert r.exit_code == 0, r.output


def test_yes_json_prints_one_verdict_per_measurement(dirs: Path, config_file: Path) -> None:
    out = dirs / "m.jsonl"
    r = CliRunner().invoke(
        app,
        [
            "probe",
            "--yes",
            "--json",
            "--config",
            str(config_file),
            "--apps",
            "signal,zoom",
            "--out",
            str(out),
            "--probe-asn",
            "30722",
        ],
    )
    assert r.exit_code == 0, r.output
    verdicts = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    measurements = [json.loads(line) for line in out.read_text().splitlines()]
    assert [v["test_name"] for v in verdicts] == ["signal", "voipwatch_zoom"]
    assert [m["test_name"] for m in measurements] == ["signal", "voipwatch_zoom"]
    assert {m["probe_cc"] for m in measurements} == {"IT"}
    assert {m["probe_asn"] for m in measurements} == {"AS30722"}
    assert [v["report_id"] for v in verdicts] == [m["report_id"] for m in measurements]
    signal = verdicts[0]
    assert {s["status"] for s in signal["services"]} == {"blocked"}  # NXDOMAIN everywhere


def test_summary_names_the_evidence_file(dirs: Path, config_file: Path) -> None:
    r = CliRunner().invoke(
        app, ["probe", "--yes", "--config", str(config_file), "--apps", "signal"]
    )
    assert r.exit_code == 0, r.output
    # The wording of the technique is the verdict engine's; the line is the probe's.
    assert "Signal messages: blocked — " in r.stdout
    files = list((dirs / "data" / "voipwatch" / "probe").glob("*.jsonl"))
    assert len(files) == 1
    assert f"Evidence: {files[0]}" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--apps", "whatsapp,nosuchapp"], "unknown app(s): nosuchapp"),
        (["--plane", "media", "--apps", "viber"], "unknown app(s): viber"),
        (["--plane", "sideways"], "--plane"),
    ],
)
def test_usage_errors_exit_2(dirs: Path, args: list[str], message: str) -> None:
    r = CliRunner().invoke(app, ["probe", "--yes", *args])
    assert r.exit_code == 2
    assert message in r.output


def test_helper_serve_is_a_command() -> None:
    r = CliRunner().invoke(app, ["helper", "serve", "--help"])
    assert r.exit_code == 0
    assert "--listen" in r.output
