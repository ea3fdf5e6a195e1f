"""``voipwatch export``: one tier of the store to a Parquet file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voipwatch.cli.options import DbOpt, JsonOpt, encoder, store_failures
from voipwatch.console import err, write_line
from voipwatch.errors import UsageError


def export(
    tier: Annotated[
        str,
        typer.Option("--tier", help="measurements, verdicts, observations or quarantine."),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Parquet file to write.")],
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Export one tier of the store to a Parquet file, in key order.

    Measurements keep their raw bytes zstd-compressed in the raw_zstd column.
    """
    from voipwatch.store import TIERS, export_tier, open_store

    with store_failures("export"):
        if tier not in TIERS:
            raise UsageError(f"--tier: {tier!r} is not one of {', '.join(TIERS)}")
        with open_store(db, read_only=True) as store:
            rows = export_tier(store, tier, out_file)
    if json:
        write_line(encoder.encode({"tier": tier, "rows": rows, "out": str(out_file)}))
    else:
        err.print(f"{rows:,} {tier} rows written to {out_file}", markup=False)
