"""Domain errors carry the field and the value; each face names the field its own way.

The same unknown country is ``--country`` on the command line and ``probe_cc`` in
the API, and the API never answers with a command-line flag.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.cli.options import said
from voipwatch.engine import create_engine
from voipwatch.errors import InvalidValue, UsageError
from voipwatch.fetch.layout import day_range, parse_tests
from voipwatch.web.app import create_app

INCIDENTS = {
    "incidents": [
        {
            "id": "1",
            "title": "Brazil blocked Telegram",
            "start_time": "2023-04-26T00:00:00Z",
            "end_time": "2023-04-28T00:00:00Z",
            "CCs": ["BR"],
            "ASNs": [28573],
            "test_names": ["telegram"],
            "tags": ["telegram"],
        }
    ]
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("words")
    (d / "incidents.json").write_text(json.dumps(INCIDENTS))
    db = d / "s.duckdb"
    r = CliRunner().invoke(app, ["cases", "import", str(d / "incidents.json"), "--db", str(db)])
    assert r.exit_code == 0, r.stderr
    return db


def test_the_error_holds_the_field_and_the_value_and_no_flag() -> None:
    with pytest.raises(InvalidValue) as caught:
        create_engine("process", workers=0, items=3)
    exc = caught.value
    assert (exc.field, exc.value) == ("workers", 0)
    assert isinstance(exc, UsageError)  # still a usage error: exit status 2
    assert "--" not in str(exc)
    again = pickle.loads(pickle.dumps(exc))  # raised in worker processes too
    assert (again.field, again.value, again.reason) == (exc.field, exc.value, exc.reason)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda: create_engine("process", workers=None, items=3, scheduler="tcp://127.0.0.1:1"),
            "scheduler",
        ),
        (lambda: create_engine("serial", workers=2, items=3), "workers"),
        (lambda: parse_tests(","), "test"),
        (lambda: day_range(date(2020, 1, 9), date(2020, 1, 2)), "until"),
    ],
)
def test_other_domain_errors_name_their_field(call: Callable[[], object], field: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        call()
    assert caught.value.field == field
    assert "--" not in str(caught.value)
    assert said(caught.value).startswith(f"--{field}: ")


def test_the_cli_names_the_flag(store: Path) -> None:
    r = CliRunner().invoke(app, ["cases", "list", "--db", str(store), "--country", "Atlantis"])
    assert r.exit_code == 2
    assert r.stderr.strip() == "voipwatch cases list: --country: unknown country 'Atlantis'"


def test_the_api_names_the_parameter_never_a_flag(store: Path) -> None:
    with TestClient(create_app(store), base_url="http://127.0.0.1") as c:
        r = c.get("/api/v1/cases", params={"probe_cc": "QQ"})
    assert r.status_code == 400
    message = r.json()["error"]
    assert message == "probe_cc: unknown country 'QQ'"
    assert "--" not in message
