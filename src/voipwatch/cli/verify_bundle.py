"""``voipwatch verify-bundle``: check an evidence bundle offline, file by file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def verify_bundle(
    path: Annotated[Path, typer.Argument(help="The bundle (.zip) that report --bundle wrote.")],
) -> None:
    """Check an evidence bundle offline: every file's SHA-256 against its manifest, no file
    added or missing, and the bundle id its citation names. Exit status 0 when it holds,
    1 when a file was altered (each one is named), 2 when it is not a bundle."""
    from voipwatch.console import err, out
    from voipwatch.errors import InputError
    from voipwatch.report.bundle import verify

    try:
        data = path.read_bytes()
        result = verify(data, source=str(path))
    except OSError as exc:
        err.print(f"verify-bundle: {path}: {exc.strerror or exc}", markup=False)
        raise typer.Exit(2) from None
    except InputError as exc:
        err.print(f"verify-bundle: {exc}", markup=False)
        raise typer.Exit(2) from None
    for problem in result.problems:
        err.print(f"{path}: {problem}", markup=False)
    if not result.ok:
        failed = f"bundle {result.bundle_id}: FAILED ({len(result.problems)} problems)"
        out.print(failed, markup=False)
        raise typer.Exit(1)
    out.print(f"bundle {result.bundle_id}: OK, {result.files} files verified", markup=False)
