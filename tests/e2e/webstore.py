"""A store for the web's tests and benchmark: real verdicts, multiplied in SQL.

The project's test measurements (real OONI measurements, some modified to show
techniques) are ingested the normal way; then DuckDB copies them
across countries, networks and days in one statement per table, so a store of any
size takes seconds. Copies of a measurement that shows blocking appear only in the
countries that block that test, from their onset day on, so the store has blocks
that start, countries that are clean, and every verdict has its real evidence.
"""

from __future__ import annotations

from pathlib import Path

from voipwatch.store import ingest, open_store
from voipwatch.store.rows import compress
from voipwatch.store.schema import verdict_measurement_sql
from voipwatch.testing import COUNTRIES, END

#: The project's committed measurements (real OONI ones, and some modified to show
#: techniques the public samples lack; see their MANIFEST.toml).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "measurements"


def build_store(
    path: Path,
    *,
    days: int = 30,
    reps: int = 1,
    observations: bool = True,
    keep_raw: bool = True,
    synthetic: str | None = "Test store: bundled measurements copied across countries and days.",
) -> int:
    """Build the store at ``path``; returns its number of measurements.

    Each bundled measurement is copied ``reps`` times per country and day (when the
    country's plan allows it). ``observations=False`` and ``keep_raw=False`` keep a
    large store small (the copies then carry a placeholder raw document).
    """
    # Room for the copies: the writer's default limit is sized for streaming ingest.
    with open_store(path, memory_limit="4GB") as store:
        # The call test's recordings are of our own probe, made on a later day than this
        # world's: they would move "now" (the latest measurement) past every block.
        files = sorted(
            p for p in FIXTURES.glob("*.json") if not p.name.startswith("voipwatch-call-")
        )
        ingest(store, files, on_problem=lambda _msg: None)
        con = store.con
        plan = ", ".join(
            f"('{c.cc}', {c.asn}, [{', '.join(repr(t) for t in c.blocked_tests)}]::VARCHAR[], "
            f"{c.onset})"
            for c in COUNTRIES
        )
        con.execute("CREATE TEMP TABLE plan(cc VARCHAR, asn INT, tests VARCHAR[], onset INT)")
        con.execute(f"INSERT INTO plan VALUES {plan}")
        con.execute(
            """
            CREATE TEMP TABLE base AS
            SELECT m.*, EXISTS (SELECT 1 FROM verdicts v WHERE v.key = m.key
                                AND v.status IN ('blocked', 'partial')) AS blocking
            FROM measurements m
            """
        )
        con.execute(
            f"""
            CREATE TEMP TABLE copies AS
            SELECT b.key AS old_key,
                   md5(b.key || ':' || p.cc || ':' || d.day || ':' || r.rep) AS key,
                   p.cc, p.asn + (r.rep % 3) AS asn, b.test_name,
                   TIMESTAMP '{END:%Y-%m-%d %H:%M:%S}' - to_days(({days} - 1 - d.day)::INT)
                     + to_minutes(((r.rep * 97 + (hash(b.key) % 1000)::BIGINT) % 1440)::BIGINT)
                     AS t
            FROM base b, plan p, range({days}) d(day), range({reps}) r(rep)
            WHERE b.status IN ('ok', 'anomaly', 'confirmed', 'failure')
              AND (NOT b.blocking OR (list_contains(p.tests, b.test_name) AND d.day >= p.onset))
            """
        )
        raw = "b.raw_zstd" if keep_raw else "?::BLOB"
        params = [] if keep_raw else [compress(b'{"note": "copy without its raw document"}')]
        with store.transaction():
            con.execute(
                f"""
                INSERT INTO measurements
                SELECT c.key,
                       strftime(c.t, '%Y%m%d%H%M%S') || '.000000_' || c.cc || '_'
                         || replace(c.test_name, '_', '') || '_' || substr(c.key, 1, 16),
                       strftime(c.t, '%Y%m%dT%H%M%SZ') || '_' || c.test_name || '_' || c.cc
                         || '_' || c.asn || '_n1_' || substr(c.key, 17, 16),
                       b.test_name, b.test_version, c.cc, 'AS' || c.asn, c.t, b.input,
                       b.status, b.rules_version, b.notes, b.judgement_digest, 'webstore',
                       0, b.raw_size, {raw}
                FROM copies c JOIN base b ON b.key = c.old_key
                """,
                params,
            )
            con.execute(
                f"""
                INSERT INTO verdicts
                SELECT c.key, v.idx, v.service, v.role, v.plane, v.status, v.technique,
                       v.confidence, v.evidence, v.confirmed,
                       {verdict_measurement_sql(start_is_text=False)}
                FROM copies c JOIN verdicts v ON v.key = c.old_key
                JOIN measurements m ON m.key = c.key
                """
            )
            if observations:
                con.execute(
                    """
                    INSERT INTO observations
                    SELECT c.key, o.idx, o.layer, o.service, o.role, o.target, o.ok, o.ip,
                           o.port, o.operation, o.failure, o.detail
                    FROM copies c JOIN observations o ON o.key = c.old_key
                    """
                )
            if synthetic:
                con.execute(
                    "INSERT OR REPLACE INTO store_meta VALUES ('demo_synthetic', ?)", [synthetic]
                )
        row = con.execute("SELECT count(*) FROM measurements").fetchone()
        return int(row[0]) if row else 0
