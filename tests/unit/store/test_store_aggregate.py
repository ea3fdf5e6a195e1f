"""OONI-shaped aggregation over a small hand-made store.

The store is filled with hand-made judgements, not judged measurements, so these tests
pin the response shape and the counting whatever the verdict rules say.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from voipwatch.errors import UsageError
from voipwatch.store import Store, aggregate, open_store, parse_query, to_csv
from voipwatch.store.batch import insert_rows
from voipwatch.store.rows import Rows
from voipwatch.verdicts.types import Judgement, RoleVerdict, Verdict

OONI_COUNTS = ["anomaly_count", "confirmed_count", "failure_count", "ok_count"]
ROLE_COUNTS = [
    "ok_count",
    "blocked_count",
    "partial_count",
    "degraded_count",
    "down_count",
    "failure_count",
    "unknown_count",
]

# (key, cc, asn, test, start, status, input, [(service, role, plane, status, technique)])
MEASUREMENTS = [
    ("k01", "IR", "AS44244", "whatsapp", "2024-01-01 10:05:00", "anomaly", None,
     [("whatsapp", "endpoints", "signalling", "blocked", "tcp.timeout"),
      ("whatsapp", "web", "web", "ok", None)]),
    ("k02", "IR", "AS44244", "whatsapp", "2024-01-01 11:30:00", "confirmed", None,
     [("whatsapp", "endpoints", "signalling", "blocked", "dns.nxdomain")]),
    ("k03", "IR", "AS197207", "telegram", "2024-01-02 00:00:00", "ok", None,
     [("telegram", "dc", "signalling", "ok", None)]),
    ("k04", "DE", "AS3320", "signal", "2024-01-02 23:59:59", "failure", None,
     [("signal", "backend", "signalling", "failure", None)]),
    ("k05", "DE", "AS3320", "web_connectivity", "2024-01-03 08:00:00", "ok",
     "https://www.example.org/path", []),
    ("k06", "DE", "AS3320", "dash", "2024-01-03 09:00:00", "unsupported", None, []),
    ("k07", "IT", "AS30722", "telegram", "not a time", "ok", None,
     [("telegram", "dc", "signalling", "partial", "tcp.timeout")]),
]  # fmt: skip


def _judgement(row: tuple) -> Judgement:  # type: ignore[type-arg]
    key, cc, asn, test, start, status, inp, roles = row
    services = [
        RoleVerdict(service=s, role=r, plane=p, status=st, technique=t, confidence=0.9, evidence=[])
        for s, r, p, st, t in roles
    ]
    verdict = Verdict(
        measurement_uid=f"uid-{key}",
        report_id=f"report-{key}",
        test_name=test,
        test_version="0.1",
        probe_cc=cc,
        probe_asn=asn,
        measurement_start_time=start,
        input=inp,
        status=status,
        services=services,
    )
    return Judgement(key=key, verdict=verdict, observations=[])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    db = tmp_path_factory.mktemp("agg") / "agg.duckdb"
    with open_store(db) as s:
        rows = Rows()
        for i, m in enumerate(MEASUREMENTS):
            rows.add(_judgement(m), source="hand-made", line=i + 1, raw=b"{}")
        with s.transaction():
            insert_rows(s.con, rows)
    with open_store(db, read_only=True) as s:
        yield s


def run(store: Store, **kw: str) -> dict:  # type: ignore[type-arg]
    return aggregate(store.con, parse_query(**kw))


def test_no_axis_gives_one_object_with_counts_summing(store: Store) -> None:
    r = run(store)
    assert r["v"] == 0
    assert r["dimension_count"] == 0
    assert set(r["db_stats"]) == {"row_count", "bytes", "total_row_count", "elapsed_seconds"}
    res = r["result"]
    assert isinstance(res, dict)
    assert list(res) == [*OONI_COUNTS, "measurement_count"]
    # Six judged measurements; the unsupported one is not counted.
    assert res == {
        "anomaly_count": 1,
        "confirmed_count": 1,
        "failure_count": 1,
        "ok_count": 3,
        "measurement_count": 6,
    }
    assert r["db_stats"]["total_row_count"] == len(MEASUREMENTS)


def test_day_axis(store: Store) -> None:
    r = run(
        store,
        axis_x="measurement_start_day",
        time_grain="day",
        since="2024-01-01",
        until="2024-01-05",
    )
    days = [(x["measurement_start_day"], x["measurement_count"]) for x in r["result"]]
    assert days == [("2024-01-01", 2), ("2024-01-02", 2), ("2024-01-03", 1)]
    assert r["dimension_count"] == 1
    for x in r["result"]:
        assert sum(x[k] for k in OONI_COUNTS) == x["measurement_count"]


def test_hour_axis_is_iso_with_z(store: Store) -> None:
    r = run(
        store,
        axis_x="measurement_start_day",
        time_grain="hour",
        since="2024-01-01",
        until="2024-01-02",
    )
    assert [x["measurement_start_day"] for x in r["result"]] == [
        "2024-01-01T10:00:00Z",
        "2024-01-01T11:00:00Z",
    ]


def test_auto_grain_follows_ooni_ranges(store: Store) -> None:
    short = run(store, axis_x="measurement_start_day", since="2024-01-01", until="2024-01-02")
    assert short["result"][0]["measurement_start_day"].endswith("Z"), "≤ 7 days: hour"
    # Without bounds the data's own range decides (3 days here, so hour as well).
    assert run(store, axis_x="measurement_start_day")["result"][0][
        "measurement_start_day"
    ].endswith("Z")
    with pytest.raises(UsageError, match="time_grain"):
        run(
            store,
            axis_x="measurement_start_day",
            time_grain="hour",
            since="2023-01-01",
            until="2024-06-01",
        )


def test_week_starts_on_sunday(store: Store) -> None:
    r = run(
        store,
        axis_x="measurement_start_day",
        time_grain="week",
        since="2023-12-01",
        until="2024-01-20",
    )
    assert [x["measurement_start_day"] for x in r["result"]] == ["2023-12-31"]


def test_probe_asn_is_int_and_filter_takes_either_spelling(store: Store) -> None:
    r = run(store, axis_x="probe_asn")
    asns = [x["probe_asn"] for x in r["result"]]
    assert asns == sorted(asns)
    assert all(isinstance(a, int) for a in asns)
    a = run(store, probe_asn="AS44244,3320")["result"]
    b = run(store, probe_asn="44244,as3320")["result"]
    assert a == b
    assert a["measurement_count"] == 4


def test_two_axes_and_filters(store: Store) -> None:
    r = run(store, axis_x="probe_cc", axis_y="test_name", probe_cc="ir,de")
    assert r["dimension_count"] == 2
    cells = {(x["probe_cc"], x["test_name"]): x["measurement_count"] for x in r["result"]}
    assert cells == {
        ("DE", "signal"): 1,
        ("DE", "web_connectivity"): 1,
        ("IR", "telegram"): 1,
        ("IR", "whatsapp"): 2,
    }


def test_domain_axis(store: Store) -> None:
    r = run(store, axis_x="domain", test_name="web_connectivity")
    assert [x["domain"] for x in r["result"]] == ["www.example.org"]
    assert run(store, domain="www.example.org")["result"]["measurement_count"] == 1


def test_role_level_counts(store: Store) -> None:
    r = run(store, axis_x="service")
    rows = {x["service"]: x for x in r["result"]}
    assert set(rows) == {"whatsapp", "telegram", "signal"}
    wa = rows["whatsapp"]
    assert (wa["blocked_count"], wa["ok_count"], wa["verdict_count"]) == (2, 1, 3)
    assert wa["measurement_count"] == 2
    for x in r["result"]:
        assert list(x) == [*ROLE_COUNTS, "verdict_count", "measurement_count", "service"]
        assert sum(x[k] for k in ROLE_COUNTS) == x["verdict_count"]


def test_role_filters_switch_to_role_level(store: Store) -> None:
    r = run(store, technique="tcp")["result"]
    assert "blocked_count" in r
    assert (r["blocked_count"], r["partial_count"], r["measurement_count"]) == (1, 1, 2)
    r2 = run(store, plane="web")["result"]
    assert (r2["ok_count"], r2["verdict_count"]) == (1, 1)
    r3 = run(store, axis_x="technique", service="whatsapp")["result"]
    assert [x["technique"] for x in r3] == ["dns.nxdomain", "tcp.timeout", None]


def test_values_are_bound_not_spliced(store: Store) -> None:
    r = run(store, service="x' OR '1'='1", role="'); DROP TABLE measurements; --")
    assert r["result"]["verdict_count"] == 0
    assert run(store)["result"]["measurement_count"] == 6


def test_csv_has_header_and_one_row_per_result(store: Store) -> None:
    q = parse_query(axis_x="probe_cc")
    text = to_csv(aggregate(store.con, q), q)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [*OONI_COUNTS, "measurement_count", "probe_cc"]
    assert [r[-1] for r in rows[1:]] == ["DE", "IR", "IT"]
    q0 = parse_query()
    rows0 = list(csv.reader(io.StringIO(to_csv(aggregate(store.con, q0), q0))))
    assert rows0 == [[*OONI_COUNTS, "measurement_count"], ["1", "1", "1", "3", "6"]]


def test_empty_selection(store: Store) -> None:
    assert run(store, probe_cc="ZZ")["result"]["measurement_count"] == 0
    assert run(store, axis_x="probe_cc", probe_cc="ZZ")["result"] == []


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"axis_x": "colour"}, "unknown axis"),
        ({"axis_x": "probe_cc", "axis_y": "probe_cc"}, "cannot be the same"),
        ({"since": "yesterday"}, "not a date"),
        ({"since": "2024-02-01", "until": "2024-01-01"}, "must be after"),
        ({"since": "2024-01-01", "until": "2024-01-01"}, "must be after"),
        ({"time_grain": "fortnight"}, "time_grain"),
        ({"probe_asn": "ASX1"}, "AS number"),
        ({"probe_cc": "IRN"}, "country code"),
        ({"test_name": "Web Connectivity"}, "test name"),
    ],
)
def test_invalid_requests(kw: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_query(**kw)


def test_cli_aggregate(store: Store, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from voipwatch.cli import app

    runner = CliRunner()
    db = str(store.path)
    r = runner.invoke(app, ["aggregate", "--db", db, "--axis-x", "probe_asn"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["dimension_count"] == 1
    assert isinstance(body["result"][0]["probe_asn"], int)
    r = runner.invoke(app, ["aggregate", "--db", db, "--format", "csv"])
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0].startswith("anomaly_count,")
    r = runner.invoke(app, ["aggregate", "--db", db, "--until", "2020-01-01", "--since", "2021"])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    r = runner.invoke(app, ["aggregate", "--db", str(tmp_path / "absent.duckdb")])
    assert r.exit_code == 1
    assert "no store" in r.output
