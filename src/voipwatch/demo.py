"""``voipwatch demo``: the pipeline on the measurements bundled with the package.

The bundled file holds real OONI measurements and a few modified to show blocking
techniques the public samples lack (see ``demo_data/README.md``); the demo says so
wherever it shows them.
"""

from __future__ import annotations

import gzip
import importlib.resources
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from voipwatch.store import IngestStats, Store, aggregate, ingest, parse_query

BUNDLE = "measurements.jsonl.gz"


def default_demo_db() -> Path:
    """The demo's own store, so it never mixes with the user's (its directory made)."""
    path = Path(platformdirs.user_data_dir("voipwatch")) / "voipwatch-demo.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def bundled_measurements() -> Iterator[Path]:
    ref = importlib.resources.files("voipwatch.demo_data") / BUNDLE
    with importlib.resources.as_file(ref) as path:
        yield path


@dataclass(slots=True)
class DemoResult:
    ingested: IngestStats
    modified: int
    by_test: dict[str, Any]
    by_role: dict[str, Any]
    blocked: list[dict[str, Any]]


def blocked_roles(store: Store) -> list[dict[str, Any]]:
    """Every role verdict that is not ok, with where, when and the first evidence atom."""
    rows = store.con.execute(
        """
        SELECT m.probe_cc, m.probe_asn, strftime(m.measurement_start_time, '%Y-%m-%d'),
               m.test_name, v.role, v.plane, v.status, v.technique, v.evidence,
               m.measurement_uid
        FROM verdicts v JOIN measurements m USING (key)
        WHERE v.status IN ('blocked', 'partial', 'degraded', 'down')
          AND m.status <> 'failure'
        ORDER BY m.measurement_start_time, v.role
        """
    ).fetchall()
    cols = (
        "probe_cc",
        "probe_asn",
        "date",
        "test_name",
        "role",
        "plane",
        "status",
        "technique",
        "evidence",
        "measurement_uid",
    )
    return [dict(zip(cols, r, strict=True)) for r in rows]


def run(store: Store, *, on_problem: Callable[[str], None]) -> DemoResult:
    with bundled_measurements() as path:
        stats = ingest(store, [path], on_problem=on_problem)
        with gzip.open(path, "rb") as fh:
            modified = sum(b'"voipwatch_modified"' in line for line in fh)
    by_test = aggregate(store.con, parse_query(axis_x="test_name"))
    by_role = aggregate(store.con, parse_query(axis_x="role", axis_y="technique"))
    return DemoResult(stats, modified, by_test, by_role, blocked_roles(store))
