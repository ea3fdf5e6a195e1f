"""Parquet export of a store tier: the exchange format between tiers at scale.

Rows are written in key order so two exports of the same store are the same file
contents. The file appears only when complete (written beside it, then renamed), so a
killed export never leaves a truncated Parquet file under the requested name.
Measurements keep their raw bytes zstd-compressed in ``raw_zstd``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from voipwatch.errors import UsageError
from voipwatch.store.db import Store, store_errors
from voipwatch.store.schema import TIERS


def export_tier(store: Store, tier: str, out: Path) -> int:
    """Write ``tier`` to the Parquet file ``out``; return the number of rows written."""
    if tier not in TIERS:
        raise UsageError(f"tier: {tier!r} is not one of {', '.join(TIERS)}")
    out = out.expanduser()
    if not out.parent.is_dir():
        raise UsageError(f"{out}: directory {out.parent} does not exist")
    if out.is_dir():
        raise UsageError(f"{out}: is a directory")
    if out.exists() and not out.is_file():
        # Renaming over a device or a pipe would replace it with a regular file.
        raise UsageError(f"{out}: not a regular file; give the path of a file to write")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with store_errors(out, "export"):
            # ``tier`` and its ordering come from TIERS (our own names); the path is bound.
            row = store.con.execute(
                f"COPY (SELECT * FROM {tier} ORDER BY {TIERS[tier]}) TO ? "
                "(FORMAT parquet, COMPRESSION zstd)",
                [str(tmp)],
            ).fetchone()
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return int(row[0]) if row else 0
