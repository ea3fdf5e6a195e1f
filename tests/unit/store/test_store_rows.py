"""Judgements as stored rows: every field comes back exactly as the rules produced it.

Observations travel to DuckDB as JSON and are unpacked there (fields at their default
are left out of the JSON), so these tests check that path field by field, including
awkward strings.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from voipwatch.store import open_store
from voipwatch.store.batch import insert_rows
from voipwatch.store.rows import Rows
from voipwatch.store.schema import OBSERVATION_COLUMNS, OBSERVATION_FIELDS, TIERS
from voipwatch.verdicts.types import Evidence, Judgement, Observation, RoleVerdict, Verdict


def _judgement(key: str, observations: list[Observation], start: str) -> Judgement:
    verdict = Verdict(
        measurement_uid=f"uid-{key}",
        report_id=f"r-{key}",
        test_name="signal",
        test_version="0.2.5",
        probe_cc="IR",
        probe_asn="AS44244",
        measurement_start_time=start,
        input=None,
        status="anomaly",
        services=[
            RoleVerdict(
                service="signal",
                role="backend",
                plane="signalling",
                status="blocked",
                technique="tls.reset",
                confidence=0.75,
                confirmed=True,
                evidence=[
                    Evidence(operation="tls_handshake", failure="connection_reset", target="x")
                ],
            ),
            RoleVerdict(
                service="signal",
                role="sfu",
                plane="media",
                status="ok",
                technique=None,
                confidence=1.0,
                evidence=[],
            ),
        ],
        notes=["a note"],
    )
    return Judgement(key=key, verdict=verdict, observations=observations)


OBSERVATIONS = [
    Observation(layer="dns", service="signal", role="backend", target="chat.signal.org", ok=True),
    Observation(
        layer="tcp",
        service="signal",
        role="backend",
        target="[2001:db8::1]:443",
        ok=False,
        ip="2001:db8::1",
        port=443,
        operation="connect",
        failure="generic_timeout_error",
        detail="quote \" backslash \\ apostrophe ' tab \t newline \n ünïcödé 🙂",
    ),
    Observation(layer="tls", service="signal", role="sfu", target="sfu", ok=False, port=0),
]


def test_observation_fields_match_the_table() -> None:
    names = [f.name for f in msgspec.structs.fields(Observation)]
    assert names == [name for name, _, _ in OBSERVATION_FIELDS]
    assert ("key", "idx", *names) == OBSERVATION_COLUMNS


def test_tables_have_the_declared_columns(tmp_path: Path) -> None:
    from voipwatch.store.schema import MEASUREMENT_COLUMNS, QUARANTINE_COLUMNS, VERDICT_COLUMNS

    declared = {
        "measurements": MEASUREMENT_COLUMNS,
        "verdicts": VERDICT_COLUMNS,
        "observations": OBSERVATION_COLUMNS,
        "quarantine": QUARANTINE_COLUMNS,
    }
    with open_store(tmp_path / "s.duckdb") as store:
        for table in TIERS:
            cols = [r[0] for r in store.con.execute(f"DESCRIBE {table}").fetchall()]
            assert tuple(cols) == declared[table]


@pytest.mark.parametrize("all_new", [True, False])
def test_rows_round_trip(tmp_path: Path, all_new: bool) -> None:
    js = [
        _judgement("k1", OBSERVATIONS, "2024-02-29 23:59:59"),
        _judgement("k2", [], "not a time"),
        _judgement("k3", OBSERVATIONS[:1], "2024-03-01T00:00:00Z"),
    ]
    raws = [b'{"m": 1}', b'{"m": 2}' * 1000, b""]
    with open_store(tmp_path / "s.duckdb") as store:
        rows = Rows()
        for i, (j, raw) in enumerate(zip(js, raws, strict=True)):
            rows.add(j, source="src.jsonl", line=i + 1, raw=raw)
        with store.transaction():
            assert insert_rows(store.con, rows, all_new=all_new) == {"k1", "k2", "k3"}
        con = store.con
        obs = con.execute(
            f"SELECT {', '.join(OBSERVATION_COLUMNS)} FROM observations ORDER BY key, idx"
        ).fetchall()
        expected = [
            (j.key, i, *(getattr(o, name) for name, _, _ in OBSERVATION_FIELDS))
            for j in js
            for i, o in enumerate(j.observations)
        ]
        assert obs == expected
        verdicts = con.execute(
            "SELECT key, idx, service, role, plane, status, technique, confidence, evidence, "
            "confirmed FROM verdicts ORDER BY key, idx"
        ).fetchall()
        assert [(v[0], v[1], v[6], v[7], v[9]) for v in verdicts] == [
            (j.key, i, s.technique, s.confidence, s.confirmed)
            for j in js
            for i, s in enumerate(j.verdict.services)
        ]
        assert json.loads(verdicts[0][8]) == [
            {"operation": "tls_handshake", "failure": "connection_reset", "target": "x"}
        ]
        times = con.execute(
            "SELECT key, CAST(measurement_start_time AS VARCHAR), raw_size, notes "
            "FROM measurements ORDER BY key"
        ).fetchall()
        assert times == [
            ("k1", "2024-02-29 23:59:59", 8, '["a note"]'),
            ("k2", None, 8000, '["a note"]'),
            ("k3", "2024-03-01 00:00:00", 0, '["a note"]'),
        ]
        # Each verdict carries its measurement's country, network, hour and test.
        copied = con.execute(
            "SELECT DISTINCT key, measurement_cc, measurement_asn, "
            "CAST(measurement_hour AS VARCHAR), measurement_test "
            "FROM verdicts ORDER BY key"
        ).fetchall()
        assert copied == [
            ("k1", "IR", 44244, "2024-02-29 23:00:00", "signal"),
            ("k2", "IR", 44244, None, "signal"),
            ("k3", "IR", 44244, "2024-03-01 00:00:00", "signal"),
        ]


def test_second_insert_adds_only_new_keys(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        first = Rows()
        first.add(
            _judgement("k1", OBSERVATIONS, "2024-01-01 00:00:00"), source="a", line=1, raw=b"1"
        )
        with store.transaction():
            insert_rows(store.con, first)
        both = Rows()
        both.add(_judgement("k1", [], "2024-01-01 00:00:00"), source="b", line=1, raw=b"x")
        both.add(
            _judgement("k2", OBSERVATIONS, "2024-01-01 00:00:00"), source="b", line=2, raw=b"2"
        )
        with store.transaction():
            assert insert_rows(store.con, both) == {"k2"}
        counts = store.con.execute(
            "SELECT key, count(*) FROM observations GROUP BY key ORDER BY key"
        ).fetchall()
        assert counts == [("k1", len(OBSERVATIONS)), ("k2", len(OBSERVATIONS))]
        # The first stored copy is kept: its source, not the later one's.
        assert store.con.execute("SELECT source FROM measurements WHERE key = 'k1'").fetchone() == (
            "a",
        )
