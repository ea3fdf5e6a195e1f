"""``voipwatch report``: the advocacy brief on one country, as HTML or PDF."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from voipwatch.cli.options import DbOpt


def report(
    country: Annotated[
        str, typer.Option("--country", help="Two-letter country code, e.g. IR.", show_default=False)
    ],
    fmt: Annotated[str, typer.Option("--format", help="html or pdf.")] = "html",
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="File to write the brief to, in a folder that exists; - for stdout "
            "(default: voipwatch-brief-CC.html or .pdf here).",
            show_default=False,
        ),
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle",
            help="Also write the evidence bundle: the brief, the raw measurements behind "
            "each event, the charts, the method, the sources and a citation, with the "
            "SHA-256 of each file (check it with voipwatch verify-bundle).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="First day the brief covers (YYYY-MM-DD).", show_default=False
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Day after the last it covers (YYYY-MM-DD).", show_default=False
        ),
    ] = None,
    apps: Annotated[
        str | None,
        typer.Option("--apps", help="Only these apps, e.g. whatsapp,signal.", show_default=False),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Write the advocacy brief on a country: what is blocked, how, since when and where,
    the evidence charts, the cost with its range and method, the legal context and the
    sources. Missing pieces (no events, no legal context) are said, never invented."""
    from voipwatch.cli.options import store_failures
    from voipwatch.cli.outfile import check_target, is_stdout, write_target
    from voipwatch.console import err
    from voipwatch.errors import UsageError
    from voipwatch.report.brief import build_brief, make_scope
    from voipwatch.report.document import FORMATS, render_html, render_pdf
    from voipwatch.store import open_store

    with store_failures("report"):
        if fmt not in FORMATS:
            raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
        if bundle is not None and bundle.suffix.lower() != ".zip":
            raise UsageError(f"--bundle {bundle}: an evidence bundle is a .zip file")
        if out_file is not None and not is_stdout(out_file):
            check_target(out_file)
        if bundle is not None:
            check_target(bundle, "--bundle")
        scope = make_scope(
            _day("--since", since),
            _day("--until", until),
            [a.strip().lower() for a in apps.split(",") if a.strip()] if apps else None,
        )
        with open_store(db, read_only=True) as store:
            brief = build_brief(store, country, scope=scope)
            html = render_html(brief).encode()
            archive = ident = None
            if bundle is not None:
                import vl_convert

                from voipwatch.report.bundle import bundle_files, write_bundle

                files = bundle_files(store, brief, html, png=vl_convert.svg_to_png)
                archive, ident = write_bundle(brief, files)
        target = out_file or Path(f"voipwatch-brief-{brief.cc}.{fmt}")
        write_target(target, render_pdf(brief) if fmt == "pdf" else html)
        if bundle is not None and archive is not None:
            write_target(bundle, archive, "--bundle")
    for gap in brief.gaps:
        err.print(f"note: {gap}", markup=False)
    err.print(
        f"{brief.country} ({brief.cc}): {len(brief.events)} events, {len(brief.cases)} cases; "
        f"brief written to {'stdout' if is_stdout(target) else target}",
        markup=False,
    )
    if bundle is not None:
        err.print(f"evidence bundle {ident} written to {bundle}", markup=False)


def _day(flag: str, text: str | None) -> date | None:
    from voipwatch.errors import UsageError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag}: {text!r} is not a day (YYYY-MM-DD)") from None
