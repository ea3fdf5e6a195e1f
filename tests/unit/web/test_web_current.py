"""The map's "blocked now": a change at the app's side is not a block, nor is noise."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from voipwatch.views.measurements import current_blocks

T0 = datetime(2026, 10, 1)


def _store(with_events: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(
        "CREATE TABLE measurements (key VARCHAR, probe_cc VARCHAR, probe_asn VARCHAR, "
        "status VARCHAR, measurement_start_time TIMESTAMP)"
    )
    con.execute(
        "CREATE TABLE verdicts (key VARCHAR, service VARCHAR, role VARCHAR, plane VARCHAR, "
        "status VARCHAR, technique VARCHAR)"
    )
    for i in range(24):
        t = T0 + timedelta(hours=i)
        for cc in ("BR", "IR"):
            key = f"{cc}{i}"
            con.execute("INSERT INTO measurements VALUES (?, ?, 'AS1', 'anomaly', ?)", [key, cc, t])
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
    assert rows["BR", "signalling"]["status"] == "blocked"
    assert rows["BR", "signalling"]["blocked_count"] == 18
    for cc in ("BR", "IR"):
        web = rows[cc, "web"]
        assert web["blocked"] is False
        assert web["status"] == "ok"
        assert (web["blocked_count"], web["target_change_count"], web["judged_count"]) == (
            0,
            12,
            12,
        )
    assert rows["IR", "signalling"]["blocked"] is False


def test_without_detected_events_verdicts_count_as_they_are() -> None:
    rows = _rows(_store(with_events=False))
    # Half the verdicts of one role of the network: significant, under half for sure.
    assert rows["IR", "web"]["status"] == "partial"
    assert rows["IR", "web"]["target_change_count"] == 0


def _noisy_store() -> duckdb.DuckDBPyConnection:
    """Three networks over a week: quiet, flaky, and one that blocks Telegram."""
    con = duckdb.connect(":memory:")
    con.execute(
        "CREATE TABLE measurements (key VARCHAR, probe_cc VARCHAR, probe_asn VARCHAR, "
        "status VARCHAR, measurement_start_time TIMESTAMP)"
    )
    con.execute(
        "CREATE TABLE verdicts (key VARCHAR, service VARCHAR, role VARCHAR, plane VARCHAR, "
        "status VARCHAR, technique VARCHAR)"
    )
    roles = [("whatsapp", "whatsapp/endpoints"), ("telegram", "telegram/dc"),
             ("signal", "signal/backend"), ("viber", "viber/backend")]  # fmt: skip
    for i in range(200):
        t = T0 + timedelta(minutes=50 * i)
        for cc, asn in (("PK", "AS1"), ("PK", "AS2"), ("BD", "AS3")):
            key = f"{asn}-{i}"
            con.execute("INSERT INTO measurements VALUES (?, ?, ?, 'ok', ?)", [key, cc, asn, t])
            for svc, role in roles:
                if asn == "AS1":
                    # Two stray anomalies in the whole week.
                    bad = svc == "whatsapp" and i in (17, 150)
                elif asn == "AS2":
                    # A flaky network: every app fails about one time in three.
                    bad = (i + len(svc)) % 3 == 0
                else:
                    bad = svc == "telegram" and i >= 60
                con.execute(
                    "INSERT INTO verdicts VALUES (?, ?, ?, 'signalling', ?, ?)",
                    [key, svc, role, "blocked" if bad else "ok", "tcp.timeout" if bad else None],
                )
    return con


def test_noise_and_flaky_networks_stay_ok_with_their_anomalies_counted() -> None:
    answer = current_blocks(_noisy_store().cursor(), days=30)
    rows = {(r["probe_cc"], r["service"]): r for r in answer["rows"]}
    wa = rows["PK", "whatsapp"]
    assert wa["status"] == "ok"
    assert wa["blocked_count"] > 2  # the flaky network's failures are counted, not judged
    for svc in ("whatsapp", "telegram", "signal", "viber"):
        assert rows["PK", svc]["status"] == "ok", rows["PK", svc]
        assert rows["PK", svc]["decided_by"] is None
    tg = rows["BD", "telegram"]
    assert tg["status"] == "blocked"
    assert tg["decided_by"] == {
        "probe_asn": "AS3",
        "role": "telegram/dc",
        "blocked_count": 140,
        "judged_count": 200,
    }
    assert tg["lower_bound"] > tg["baseline"]
    assert tg["networks_blocked"] == ["AS3"]
    assert rows["BD", "whatsapp"]["status"] == "ok"


def test_a_filter_never_changes_a_state() -> None:
    con = _noisy_store()
    every = {
        (r["probe_cc"], r["service"]): r for r in current_blocks(con.cursor(), days=30)["rows"]
    }
    only = current_blocks(con.cursor(), days=30, service=("telegram",), probe_cc=("BD",))
    assert [r["service"] for r in only["rows"]] == ["telegram"]
    assert only["rows"][0] == every["BD", "telegram"]
