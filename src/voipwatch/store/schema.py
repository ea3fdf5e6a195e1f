"""The store's tables, as DDL, and the version that names them.

The store is the durable copy of three tiers of DESIGN.md's data flow — raw
measurements (compressed), observations and verdicts — plus a quarantine for records
that could not be read. Raw bytes are kept so that ``voipwatch rejudge`` can rebuild
the later tiers after a rule changes, without fetching anything again.

Bump :data:`SCHEMA_VERSION` whenever a table changes shape, and add the statements that
bring a store of the previous version up to date to :data:`MIGRATIONS`: writers
upgrade a store when they open it; readers refuse a store of another version with a
clear message instead of misreading it.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 4

#: Accepted spellings of OONI's ``measurement_start_time``. The spec says
#: ``YYYY-MM-DD hh:mm:ss`` (UTC); the ISO forms appear in hand-made and API data.
START_TIME_FORMATS: Final = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S")


def start_time_sql(column: str) -> str:
    """SQL parsing ``column`` (text) into a TIMESTAMP, NULL when it does not parse.

    The formats are our own constants, not user input, so they are spelled into the
    statement; a constant format list is what lets DuckDB parse a batch vectorised.
    """
    formats = ", ".join("'" + f.replace("'", "''") + "'" for f in START_TIME_FORMATS)
    return f"try_strptime({column}, [{formats}])"


def asn_sql(column: str) -> str:
    """SQL reading an ``AS1234`` text ``column`` as the number 1234, NULL otherwise."""
    return f"TRY_CAST(substr({column}, 3) AS BIGINT)"


MEASUREMENT_COLUMNS: Final = (
    "key",
    "measurement_uid",
    "report_id",
    "test_name",
    "test_version",
    "probe_cc",
    "probe_asn",
    "measurement_start_time",
    "input",
    "status",
    "rules_version",
    "notes",
    "judgement_digest",
    "source",
    "line",
    "raw_size",
    "raw_zstd",
)

#: The columns of a role verdict that its judgement gives.
JUDGED_VERDICT_COLUMNS: Final = (
    "key",
    "idx",
    "service",
    "role",
    "plane",
    "status",
    "technique",
    "confidence",
    "evidence",
    "confirmed",
)

#: Columns copied onto each verdict row from its measurement when the row is written,
#: as SQL over a measurement row ``m`` whose start time is text (a batch being
#: written) or a TIMESTAMP (the stored table, when migrating). Counting verdicts per
#: country, network and hour then reads the verdicts alone: joining them to their
#: measurements was a quarter of the events phase's CPU time on ten million verdicts
#: (``benchmarks/README.md``, ``bench_events.py``). Their names are
#: none of the measurement's own, so that a query joining the two tables reads
#: ``probe_cc`` or ``test_name`` as it always did.
VERDICT_MEASUREMENT_COLUMNS: Final = (
    ("measurement_cc", "VARCHAR", "m.probe_cc"),
    ("measurement_asn", "BIGINT", asn_sql("m.probe_asn")),
    ("measurement_hour", "TIMESTAMP", "date_trunc('hour', {start})"),
    ("measurement_test", "VARCHAR", "m.test_name"),
)

VERDICT_COLUMNS: Final = (
    *JUDGED_VERDICT_COLUMNS,
    *(name for name, _, _ in VERDICT_MEASUREMENT_COLUMNS),
)


def verdict_measurement_sql(*, start_is_text: bool) -> str:
    """The select list of :data:`VERDICT_MEASUREMENT_COLUMNS` over a measurement ``m``."""
    column = "m.measurement_start_time"
    start = start_time_sql(column) if start_is_text else column
    return ", ".join(
        f"{sql.format(start=start)} AS {name}" for name, _, sql in VERDICT_MEASUREMENT_COLUMNS
    )


def insert_verdicts_sql(verdicts: str, measurements: str, *, where: str = "") -> str:
    """SQL inserting the verdict rows of ``verdicts`` with their measurement's columns.

    ``measurements`` holds the rows being written with them (start time as text), one
    per key; both names and ``where`` (over ``v``) are our own SQL, never user input.
    """
    judged = ", ".join(f"v.{c}" for c in JUDGED_VERDICT_COLUMNS)
    return (
        f"INSERT INTO verdicts ({', '.join(VERDICT_COLUMNS)}) "
        f"SELECT {judged}, {verdict_measurement_sql(start_is_text=True)} "
        f"FROM {verdicts} AS v JOIN {measurements} AS m ON m.key = v.key {where}"
    )


#: The fields of :class:`~voipwatch.verdicts.types.Observation` as stored: name, SQL
#: type, and the SQL default for fields the JSON encoding leaves out when they hold
#: their default (``omit_defaults``).
OBSERVATION_FIELDS: Final = (
    ("layer", "VARCHAR", None),
    ("service", "VARCHAR", None),
    ("role", "VARCHAR", None),
    ("target", "VARCHAR", None),
    ("ok", "BOOLEAN", None),
    ("ip", "VARCHAR", "''"),
    ("port", "INTEGER", "0"),
    ("operation", "VARCHAR", "''"),
    ("failure", "VARCHAR", "''"),
    ("detail", "VARCHAR", "''"),
)

OBSERVATION_COLUMNS: Final = ("key", "idx", *(name for name, _, _ in OBSERVATION_FIELDS))

QUARANTINE_COLUMNS: Final = ("file", "line", "reason", "excerpt", "first_seen")

#: ``via_outcomes``: per measurement made with ``probe --via`` × app role, what the
#: tool did (:class:`voipwatch.via.ViaOutcome`); ``outcome`` is NULL where a path
#: tells nothing.
_VIA_DDL: Final = """
    CREATE TABLE IF NOT EXISTS via_outcomes (
        key              VARCHAR NOT NULL,
        idx              INTEGER NOT NULL,
        service          VARCHAR NOT NULL,
        role             VARCHAR NOT NULL,
        plane            VARCHAR NOT NULL,
        tool             VARCHAR NOT NULL,
        scheme           VARCHAR NOT NULL,
        outcome          VARCHAR,
        tool_status      VARCHAR NOT NULL,
        udp              BOOLEAN NOT NULL,
        direct_status    VARCHAR NOT NULL,
        direct_technique VARCHAR,
        via_status       VARCHAR NOT NULL,
        via_technique    VARCHAR,
        via_evidence     VARCHAR NOT NULL
    )
    """
VIA_COLUMNS: Final = (
    "key", "idx", "service", "role", "plane", "tool", "scheme", "outcome", "tool_status",
    "udp", "direct_status", "direct_technique", "via_status", "via_technique", "via_evidence",
)  # fmt: skip


def _verdicts_ddl(table: str) -> str:
    return f"""
    CREATE TABLE IF NOT EXISTS {table} (
        key        VARCHAR NOT NULL,
        idx        INTEGER NOT NULL,
        service    VARCHAR NOT NULL,
        role       VARCHAR NOT NULL,
        plane      VARCHAR NOT NULL,
        status     VARCHAR NOT NULL,
        technique  VARCHAR,
        confidence DOUBLE NOT NULL,
        evidence   VARCHAR NOT NULL,
        confirmed  BOOLEAN DEFAULT false,
        {", ".join(f"{name} {sql_type}" for name, sql_type, _ in VERDICT_MEASUREMENT_COLUMNS)}
    )
    """


DDL: Final = (
    """
    CREATE TABLE IF NOT EXISTS store_meta (
        name  VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL
    )
    """,
    # judgement_digest hashes everything the rules derived from the raw bytes, so
    # rejudge can tell a changed verdict without reading the verdict tables.
    """
    CREATE TABLE IF NOT EXISTS measurements (
        key                    VARCHAR PRIMARY KEY,
        measurement_uid        VARCHAR NOT NULL,
        report_id              VARCHAR NOT NULL,
        test_name              VARCHAR NOT NULL,
        test_version           VARCHAR NOT NULL,
        probe_cc               VARCHAR NOT NULL,
        probe_asn              VARCHAR NOT NULL,
        measurement_start_time TIMESTAMP,
        input                  VARCHAR,
        status                 VARCHAR NOT NULL,
        rules_version          INTEGER NOT NULL,
        notes                  VARCHAR NOT NULL,
        judgement_digest       VARCHAR NOT NULL,
        source                 VARCHAR NOT NULL,
        line                   BIGINT NOT NULL,
        raw_size               BIGINT NOT NULL,
        raw_zstd               BLOB NOT NULL
    )
    """,
    # No index on key: an ART index per row costs more at ingest than the scans it
    # would save; rows are written and replaced per measurement, in one transaction.
    _verdicts_ddl("verdicts"),
    """
    CREATE TABLE IF NOT EXISTS observations (
        key       VARCHAR NOT NULL,
        idx       INTEGER NOT NULL,
        layer     VARCHAR NOT NULL,
        service   VARCHAR NOT NULL,
        role      VARCHAR NOT NULL,
        target    VARCHAR NOT NULL,
        ok        BOOLEAN NOT NULL,
        ip        VARCHAR NOT NULL,
        port      INTEGER NOT NULL,
        operation VARCHAR NOT NULL,
        failure   VARCHAR NOT NULL,
        detail    VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS quarantine (
        file       VARCHAR NOT NULL,
        line       BIGINT NOT NULL,
        reason     VARCHAR NOT NULL,
        excerpt    BLOB NOT NULL,
        first_seen TIMESTAMP NOT NULL,
        PRIMARY KEY (file, line, reason)
    )
    """,
    # One row per input file, rewritten by each run that reads the file to its end:
    # provenance for the store, not part of any measurement's identity.
    """
    CREATE TABLE IF NOT EXISTS ingest_files (
        file        VARCHAR PRIMARY KEY,
        size        BIGINT NOT NULL,
        records     BIGINT NOT NULL,
        new         BIGINT NOT NULL,
        duplicate   BIGINT NOT NULL,
        quarantined BIGINT NOT NULL,
        ingested_at TIMESTAMP NOT NULL
    )
    """,
    _VIA_DDL,
)

#: Statements that take a store from version N (the key) to N + 1. Added columns come
#: last, as ALTER TABLE puts them, so fresh and upgraded stores have the same shape.
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    # RoleVerdict.confirmed: a control isolated the technique. Old rows say false
    # until ``voipwatch rejudge`` recomputes them.
    1: ("ALTER TABLE verdicts ADD COLUMN confirmed BOOLEAN DEFAULT false",),
    # via_outcomes: new; stores of version 2 hold no --via measurement yet (it is
    # filled as they are ingested, or by ``voipwatch rejudge``).
    2: (_VIA_DDL,),
    # Each verdict carries its measurement's country, network, hour and test. The
    # table is written anew rather than updated in place: DuckDB keeps an UPDATE's
    # old values in memory until it commits, and under the writers' 128 MB limit
    # that fails on a store of ten million verdicts; an INSERT spills to disk.
    3: (
        _verdicts_ddl("_verdicts_v4"),
        f"INSERT INTO _verdicts_v4 SELECT {', '.join(f'v.{c}' for c in JUDGED_VERDICT_COLUMNS)}, "
        f"{verdict_measurement_sql(start_is_text=False)} "
        "FROM verdicts AS v LEFT JOIN measurements AS m ON m.key = v.key",
        "DROP TABLE verdicts",
        "ALTER TABLE _verdicts_v4 RENAME TO verdicts",
    ),
}

#: Exportable tiers and the order that makes their dumps deterministic.
TIERS: Final = {
    "measurements": "key",
    "verdicts": "key, idx",
    "observations": "key, idx",
    "quarantine": "file, line, reason",
}
