"""``voipwatch locate refresh``: download a location database for the probe."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

locate_app = typer.Typer(
    help="The IP-to-country/network databases the probe locates itself with.",
    no_args_is_help=True,
)


@locate_app.command("refresh")
def refresh_cmd(
    url: Annotated[str, typer.Argument(help="Where to download a MaxMind-format (.mmdb) file.")],
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to keep it (default: the user data directory's location/ "
            "folder, whose *.mmdb files the probe uses).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Download a location database (GeoLite2, DB-IP, IPinfo or OONI probe-assets
    .mmdb; country, ASN or both) and replace the old copy atomically."""
    from urllib.parse import urlsplit

    import httpx

    from voipwatch.console import err, problem
    from voipwatch.errors import FetchError, LocationDbError
    from voipwatch.locate import default_dir, refresh

    name = Path(urlsplit(url).path).name or "location.mmdb"
    dest = out_file or default_dir() / (name if name.endswith(".mmdb") else f"{name}.mmdb")
    try:
        with httpx.Client(timeout=60.0) as client:
            size = refresh(url, dest, client=client)
    except (FetchError, LocationDbError) as exc:
        problem(f"voipwatch locate refresh: {exc}; {dest} is unchanged")
        raise typer.Exit(1) from None
    except OSError as exc:
        problem(f"voipwatch locate refresh: {dest}: {exc.strerror or exc}")
        raise typer.Exit(1) from None
    err.print(f"{dest}: {size:,} bytes", markup=False)
