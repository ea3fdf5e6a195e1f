"""The map's "blocked now": a change at the app's side is not a block."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from voipwatch.web.queries import current_blocks

T0 = datetime(2026, 10, 1)


def _store(with_events: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(
        "CREATE TABLE measurements (key VARCHAR, probe_cc VARCHAR, status VARCHAR, "
        "measurement_start_time TIMESTAMP)"
    )
    con.execute(
        "CREATE TABLE verdicts (key VARCHAR, service VARCHAR, role VARCHAR, plane VARCHAR, "
        "status VARCHAR, technique VARCHAR)"
    )
    for i in range(24):
        t = T0 + timedelta(hours=i)
        for cc in ("BR", "IR"):
            key = f"{cc}{i}"
            con.execute("INSERT INTO measurements VALUES (?, ?, 'anomaly', ?)", [key, cc, t])
            # WhatsApp Web answers 403 everywhere from hour 12: the target changed.
            web = "blocked" if i >= 12 else "ok"
            con.execute(
                "INSERT INTO verdicts VALUES (?, 'whatsapp', 'whatsapp/web', 'web', ?, ?)",
                [key, web, "http.blockpage" if web == "blocked" else None],
            )
            # Brazil also blocks the endpoints from hour 6.
            ep = "blocked" if cc == "BR" and i >= 6 else "ok"
            con.execute(
                "INSERT INTO verdicts VALUES (?, 'whatsapp', 'whatsapp/endpoints', "
                "'signalling', ?, ?)",
                [key, ep, "tcp.timeout" if ep == "blocked" else None],
            )
    if with_events:
        con.execute(
            "CREATE TABLE events (kind VARCHAR, probe_cc VARCHAR, roles VARCHAR[], "
            'start TIMESTAMP, "end" TIMESTAMP)'
        )
        for cc in ("BR", "IR"):
            con.execute(
                "INSERT INTO events VALUES ('target_change', ?, ['whatsapp/web'], ?, NULL)",
                [cc, T0 + timedelta(hours=12)],
            )
    return con


def _rows(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dict[str, object]]:
    answer = current_blocks(con.cursor(), days=7)
    return {(r["probe_cc"], r["plane"]): r for r in answer["rows"]}


def test_target_change_is_not_a_current_block() -> None:
    rows = _rows(_store(with_events=True))
    assert rows["BR", "signalling"]["blocked"] is True
    assert rows["BR", "signalling"]["blocked_count"] == 18
    for cc in ("BR", "IR"):
        web = rows[cc, "web"]
        assert web["blocked"] is False
        assert (web["blocked_count"], web["target_change_count"], web["judged_count"]) == (
            0,
            12,
            12,
        )
    assert rows["IR", "signalling"]["blocked"] is False


def test_without_detected_events_verdicts_count_as_they_are() -> None:
    rows = _rows(_store(with_events=False))
    assert rows["IR", "web"]["blocked"] is True
    assert rows["IR", "web"]["target_change_count"] == 0
