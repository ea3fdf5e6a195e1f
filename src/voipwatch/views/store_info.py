"""What a store says about itself: its tables, its metadata, its synthetic-data label."""

from __future__ import annotations

from typing import Final

import duckdb

#: Store metadata key the demo writes: what the synthetic data is (shown on every brief
#: and page).
SYNTHETIC_KEY: Final = "demo_synthetic"


def synthetic_note(con: duckdb.DuckDBPyConnection) -> str | None:
    """The store's synthetic-data label, None for a store of real measurements."""
    try:
        row = con.execute("SELECT value FROM store_meta WHERE name = ?", [SYNTHETIC_KEY]).fetchone()
    except duckdb.Error:
        return None
    return str(row[0]) if row else None


def store_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every name and value the store records about itself (rules version, origin)."""
    rows = con.execute("SELECT name, value FROM store_meta ORDER BY name").fetchall()
    return {str(name): str(value) for name, value in rows}


def table_names(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The names of the store's tables (a store may predate a tier's tables)."""
    rows = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    return frozenset(str(r[0]) for r in rows)
