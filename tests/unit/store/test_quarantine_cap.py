"""A file of many bad lines keeps a bounded number of quarantine rows and counts the rest.

The rows kept are the file's first bad records in input order, so the serial and
worker-process paths store the same rows and a re-run adds none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from voipwatch.ooni.reader import QUARANTINE_PER_FILE
from voipwatch.store import ingest, open_store

BAD_LINES = QUARANTINE_PER_FILE * 2 + 50
GOOD = Path(__file__).parents[2] / "fixtures" / "measurements" / "signal-ok.json"


def _inputs(folder: Path) -> list[Path]:
    """Two files, each of one good measurement among ``BAD_LINES`` broken lines."""
    good = json.dumps(json.loads(GOOD.read_text())).encode()
    paths = []
    for name in ("a.jsonl", "b.jsonl"):
        bad = [b'{"broken %d": ' % i for i in range(BAD_LINES)]
        path = folder / name
        path.write_bytes(b"\n".join([*bad[:7], good, *bad[7:]]) + b"\n")
        paths.append(path)
    return paths


def _dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with open_store(db, read_only=True) as store:
        return {
            "quarantine": store.con.execute(
                "SELECT file, line, reason, excerpt FROM quarantine ORDER BY ALL"
            ).fetchall(),
            "files": store.con.execute(
                "SELECT file, records, quarantined FROM ingest_files ORDER BY file"
            ).fetchall(),
        }


def test_quarantine_rows_are_capped_per_file_on_every_path(tmp_path: Path) -> None:
    paths = _inputs(tmp_path)
    dumps = {}
    for workers in (1, 2):
        db = tmp_path / f"w{workers}.duckdb"
        for _ in range(2):  # the second run adds nothing
            with open_store(db) as store:
                stats = ingest(store, paths, workers=workers)
            assert stats.quarantined == 2 * BAD_LINES
            assert stats.read == stats.new + stats.duplicate + stats.quarantined
        dumps[workers] = _dump(db)
    assert dumps[1] == dumps[2]
    rows = dumps[1]["quarantine"]
    assert len(rows) == 2 * QUARANTINE_PER_FILE
    for path in paths:
        lines = sorted(r[1] for r in rows if r[0] == str(path))
        # Lines 1-7 are bad, 8 is the good measurement: the first bad records in order.
        assert lines == [*range(1, 8), *range(9, QUARANTINE_PER_FILE + 2)]
    assert all(r[3].startswith(b'{"broken') for r in rows)
    # Every bad record is counted, kept or not.
    assert dumps[1]["files"] == [(str(p), BAD_LINES + 1, BAD_LINES) for p in paths]
