"""`voipwatch data refresh` against a loopback server that answers like the World Bank API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.cost import estimate
from voipwatch.cost.refresh import CODES, refresh
from voipwatch.errors import InputError

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def record(code: str, iso3: str, year: int, value: float | None) -> dict[str, object]:
    return {
        "indicator": {"id": code, "value": code},
        "country": {"id": iso3[:2], "value": iso3},
        "countryiso3code": iso3,
        "date": str(year),
        "value": value,
        "unit": "",
        "obs_status": "",
        "decimal": 0,
    }


def page(code: str, n: int, pages: int, records: list[dict[str, object]]) -> bytes:
    header = {
        "page": n,
        "pages": pages,
        "per_page": 2,
        "total": 4,
        "sourceid": "2",
        "lastupdated": "2026-05-30",
    }
    return json.dumps([header, records]).encode()


GOOD: dict[tuple[str, int], bytes] = {}
for _code in CODES.values():
    GOOD[(_code, 1)] = page(
        _code,
        1,
        2,
        [
            record(_code, "BRA", 2025, 2_500_000_000_000 if _code == "NY.GDP.MKTP.CD" else 90.0),
            record(_code, "", 2025, 1.0),  # an aggregate without ISO code: skipped
        ],
    )
    GOOD[(_code, 2)] = page(
        _code,
        2,
        2,
        [
            record(_code, "WLD", 2025, 5.0),  # a World Bank aggregate: skipped
            record(_code, "MAR", 2025, None),  # not published yet: skipped
        ],
    )


class Api:
    def __init__(self) -> None:
        self.responses = dict(GOOD)
        self.requests: list[str] = []


@pytest.fixture
def api() -> Iterator[tuple[str, Api]]:
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            state.requests.append(self.path)
            code = url.path.rsplit("/", 1)[-1]
            n = int(parse_qs(url.query).get("page", ["1"])[0])
            body = state.responses.get((code, n))
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v2", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_refresh_writes_an_overlay_the_model_reads(
    api: tuple[str, Api], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, state = api
    out = tmp_path / "overlay.json"
    counts = refresh(out, endpoint=endpoint, now=NOW)
    assert counts == {k: 1 for k in CODES}
    assert len(state.requests) == 2 * len(CODES)
    assert "format=json" in state.requests[0]
    monkeypatch.setenv("VOIPWATCH_INDICATORS", str(out))
    e = estimate("BR", "telegram", date(2025, 3, 1), 24, today=NOW.date())
    gdp = e.inputs["gdp_usd"]
    assert (gdp.value, gdp.year) == (2_500_000_000_000, 2025)
    assert "World Bank" in gdp.source
    assert "fetched 2026-06-01" in gdp.source


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>busy</html>", "not JSON"),
        (
            json.dumps(
                [
                    {
                        "message": [
                            {
                                "id": "120",
                                "key": "Invalid value",
                                "value": "The provided parameter value is not valid",
                            }
                        ]
                    }
                ]
            ).encode(),
            "not valid",
        ),
        (json.dumps({"page": 1}).encode(), "not a World Bank v2 response"),
        (page("SP.POP.TOTL", 1, 1, [record("SP.POP.TOTL", "BRA", 2025, -3)]), "bad value"),
        (page("SP.POP.TOTL", 1, 1, [{"value": 3}]), "no country code"),
    ],
)
def test_a_malformed_response_writes_nothing(
    api: tuple[str, Api], tmp_path: Path, body: bytes, message: str
) -> None:
    endpoint, state = api
    out = tmp_path / "overlay.json"
    out.write_bytes(b"previous")
    state.responses[("SP.POP.TOTL", 1)] = body
    with pytest.raises(InputError, match=message):
        refresh(out, endpoint=endpoint, now=NOW)
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["overlay.json"]


def test_cli_refresh_ok_and_failing(api: tuple[str, Api], tmp_path: Path) -> None:
    endpoint, state = api
    runner = CliRunner()
    out = tmp_path / "o.json"
    ok = runner.invoke(
        app, ["data", "refresh", "--endpoint", endpoint, "--out", str(out), "--json"]
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout.splitlines()[-1])["figures"]["gdp_usd"] == 1
    before = out.read_bytes()
    state.responses[("IT.NET.USER.ZS", 2)] = b"[1, 2, 3]"
    bad = runner.invoke(app, ["data", "refresh", "--endpoint", endpoint, "--out", str(out)])
    assert bad.exit_code == 1
    assert "nothing was written" in bad.stderr
    assert "Traceback" not in bad.output
    assert out.read_bytes() == before
    del state.responses[("IT.NET.USER.ZS", 2)]
    gone = runner.invoke(app, ["data", "refresh", "--endpoint", endpoint, "--out", str(out)])
    assert gone.exit_code == 1
    assert "HTTP 404" in gone.stderr
