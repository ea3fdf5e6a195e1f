"""Re-judging stored measurements after the verdict rules change.

Every measurement is judged again from its stored raw bytes. A measurement whose
judgement digest is unchanged is left alone; one that changed has its verdict and
observation rows replaced and its derived columns updated, in one transaction per
batch. Because the digest of a rewritten row equals the fresh one, a killed run
re-started converges on the same store, and a second run changes nothing.

The measurement's key and provenance (source, line) are never rewritten: identity is
fixed when a measurement is first stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import pyarrow as pa

from voipwatch.errors import InputError
from voipwatch.store.db import Store, registered, store_errors
from voipwatch.store.ingest import judge_record
from voipwatch.store.rows import (
    Rows,
    decompress,
    insert_observations_sql,
    judgement_digest,
)
from voipwatch.store.schema import MEASUREMENT_COLUMNS, insert_verdicts_sql, start_time_sql
from voipwatch.verdicts.types import RULES_VERSION
from voipwatch.via import VIA_KEY

BATCH_SIZE: Final = 2000

#: Never rewritten: a row's identity, its provenance and its raw bytes. The start time
#: is rewritten on its own (stored as a timestamp, carried as text).
_KEPT: Final = frozenset(("key", "source", "line", "raw_size", "raw_zstd"))
_DERIVED: Final = tuple(
    c for c in MEASUREMENT_COLUMNS if c not in _KEPT and c != "measurement_start_time"
)
_UPDATE: Final = (
    "UPDATE measurements SET "
    + ", ".join(f"{c} = c.{c}" for c in _DERIVED)
    + f", measurement_start_time = {start_time_sql('c.measurement_start_time')}"
    + " FROM _chg AS c WHERE measurements.key = c.key"
)


@dataclass(slots=True)
class RejudgeStats:
    """``changed``: verdicts rewritten; ``restamped``: same verdict, newer rules version."""

    measurements: int = 0
    changed: int = 0
    restamped: int = 0
    failed: int = 0
    rules_version: int = RULES_VERSION
    elapsed_seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return {
            "measurements": self.measurements,
            "changed": self.changed,
            "restamped": self.restamped,
            "failed": self.failed,
            "rules_version": self.rules_version,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


def _write(store: Store, rows: Rows, restamp: list[str], via: Rows) -> None:
    con = store.con
    with store.transaction():
        if len(via):
            # Judged again every time: the outcomes compare two paths, and the
            # direct path's digest does not cover the other one.
            with registered(con, "_via", via.via()):
                keys = pa.table({"key": pa.array(via.keys, type=pa.string())})
                with registered(con, "_via_keys", keys):
                    con.execute("DELETE FROM via_outcomes WHERE key IN (SELECT key FROM _via_keys)")
                con.execute("INSERT INTO via_outcomes BY NAME SELECT * FROM _via")
        if len(rows):
            with (
                registered(con, "_chg", rows.measurements(with_raw=False)),
                registered(con, "_v", rows.verdicts()),
            ):
                con.execute("DELETE FROM verdicts WHERE key IN (SELECT key FROM _chg)")
                con.execute("DELETE FROM observations WHERE key IN (SELECT key FROM _chg)")
                con.execute(_UPDATE)
                con.execute(insert_verdicts_sql("_v", "_chg"))
                con.execute(insert_observations_sql("_chg"))
        if restamp:
            keys = pa.table({"key": pa.array(restamp, type=pa.string())})
            with registered(con, "_restamp", keys):
                con.execute(
                    "UPDATE measurements SET rules_version = ? "
                    "WHERE key IN (SELECT key FROM _restamp)",
                    [RULES_VERSION],
                )


def rejudge(
    store: Store,
    *,
    batch_size: int = BATCH_SIZE,
    on_problem: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RejudgeStats:
    """Re-judge every stored measurement; ``on_progress(done, total)`` after each batch.

    Measurements the current rules reject (``InputError``) are reported through
    ``on_problem``, counted as ``failed`` and left as they were.
    """
    started = time.perf_counter()
    stats = RejudgeStats()
    with store_errors(store.path, "rejudge"):
        total_row = store.con.execute("SELECT count(*) FROM measurements").fetchone()
        total = int(total_row[0]) if total_row else 0
        # A second connection streams the stored rows (a snapshot) while the first
        # rewrites them batch by batch.
        reader_con = store.con.cursor()
        try:
            reader = reader_con.sql(
                "SELECT key, measurement_uid, source, line, rules_version, judgement_digest, "
                "raw_zstd FROM measurements"
            ).to_arrow_reader(batch_size)
            for batch in reader:
                rows = Rows()
                via = Rows()
                restamp: list[str] = []
                for key, uid, source, line, version, digest, blob in zip(
                    *(batch.column(i).to_pylist() for i in range(batch.num_columns)),
                    strict=True,
                ):
                    stats.measurements += 1
                    raw = decompress(blob)
                    try:
                        j = judge_record(raw, source=source, line=line, uid=uid)
                    except InputError as exc:
                        stats.failed += 1
                        if on_problem is not None:
                            on_problem(f"{key}: no longer judged: {exc}")
                        continue
                    j.key = key
                    if VIA_KEY in raw:
                        via.add(j, source=source, line=line, raw=raw)
                    fresh = judgement_digest(j)
                    if fresh != digest:
                        rows.add(j, source=source, line=line, raw=b"", digest=fresh)
                    elif version != RULES_VERSION:
                        restamp.append(key)
                if len(rows) or restamp or len(via):
                    _write(store, rows, restamp, via)
                stats.changed += len(rows)
                stats.restamped += len(restamp)
                if on_progress is not None:
                    on_progress(stats.measurements, total)
        finally:
            reader_con.close()
    stats.elapsed_seconds = time.perf_counter() - started
    return stats
