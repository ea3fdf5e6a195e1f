"""``voipwatch fetch``: download OONI measurements from the bulk bucket or the API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voipwatch.cli.options import JsonOpt, encoder, said
from voipwatch.console import err, problem, write_line

if TYPE_CHECKING:
    import httpx

    from voipwatch.fetch.layout import Selection


def fetch(
    since: Annotated[str, typer.Option("--since", help="First day (YYYY-MM-DD).")],
    until: Annotated[
        str | None,
        typer.Option("--until", help="Day after the last one (exclusive; default: one day)."),
    ] = None,
    cc: Annotated[
        str | None, typer.Option("--cc", help="Countries CC[,CC...] (default: all).")
    ] = None,
    test: Annotated[
        str | None,
        typer.Option(
            "--test",
            help="Tests T[,T...] (default: whatsapp, telegram, signal, facebook_messenger, "
            "stunreachability).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Mirror directory.")] = Path("ooni-data"),
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="S3-compatible endpoint URL (default: OONI's bucket on AWS).",
            show_default=False,
        ),
    ] = None,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="Bucket name (default: ooni-data-eu-fra).")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", min=1, max=64, help="Parallel downloads.")] = 4,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List what would be fetched, and its size; fetch nothing."),
    ] = False,
    api: Annotated[bool, typer.Option("--api", help="Pull from the OONI API instead.")] = False,
    api_url: Annotated[
        str, typer.Option("--api-url", help="OONI API base URL.")
    ] = "https://api.ooni.org",
    limit: Annotated[
        int, typer.Option("--limit", help="With --api: measurements per test and country.")
    ] = 100,
    interval: Annotated[
        float, typer.Option("--interval", min=0.0, help="With --api: seconds between requests.")
    ] = 1.0,
    json: JsonOpt = False,
) -> None:
    """Download OONI measurements into a local mirror, ready for `voipwatch ingest`.

    By default from OONI's public bucket (anonymous; `raw/YYYYMMDD/HH/CC/<test>/` JSONL
    cans and older postcans), keeping its layout below --out: files already there and
    intact are not fetched again, so an interrupted fetch is resumed by running it again,
    and a damaged file is fetched anew. With --api, a few measurements from the OONI API
    instead (it is rate-limited and not meant for bulk work), appended to one JSONL file.
    """
    from voipwatch.errors import FetchError, UsageError
    from voipwatch.fetch import layout

    try:
        days = layout.day_range(
            layout.parse_day(since, "--since"),
            None if until is None else layout.parse_day(until, "--until"),
        )
        selection = layout.Selection(
            tuple(days), layout.parse_countries(cc), layout.parse_tests(test)
        )
        if api:
            _api(selection, out, api_url, limit, interval, dry_run, json)
        else:
            _bulk(selection, out, endpoint, bucket, jobs, dry_run, json)
    except UsageError as exc:
        problem(f"voipwatch fetch: {said(exc)}")
        raise typer.Exit(2) from None
    except FetchError as exc:
        problem(f"voipwatch fetch: {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        problem("voipwatch fetch: interrupted; run the same command again to resume")
        raise typer.Exit(130) from None


def _client() -> httpx.Client:
    import httpx

    return httpx.Client(
        timeout=httpx.Timeout(60.0, connect=10.0),
        follow_redirects=True,
        headers={"User-Agent": "voipwatch-fetch"},
    )


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _bulk(
    selection: Selection,
    out: Path,
    endpoint: str | None,
    bucket_name: str | None,
    jobs: int,
    dry_run: bool,
    json: bool,
) -> None:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from voipwatch.console import out as stdout
    from voipwatch.fetch.bucket import Bucket, bucket_url
    from voipwatch.fetch.mirror import FetchStats, fetch, plan

    stats = FetchStats()
    with _client() as client:
        remote = Bucket(bucket_url(endpoint, bucket_name), client)
        with Progress(
            TextColumn("{task.description}"),
            console=err,
            disable=not err.is_terminal,
            transient=True,
        ) as bar:
            task = bar.add_task("listing")

            def on_listed(prefix: str, found: int) -> None:
                bar.update(task, description=f"listing {prefix}  ({found} files)")

            planned = plan(remote, selection, out, stats, on_listed=on_listed)
        if dry_run:
            for p in planned:
                if json:
                    row = {"key": p.obj.key, "size": p.obj.size, "state": p.state}
                    write_line(encoder.encode(row))
                elif p.needed:
                    stdout.print(f"{p.obj.key}  {_size(p.obj.size)}  ({p.state})", markup=False)
        else:
            with Progress(
                TextColumn("fetch"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err,
                disable=not err.is_terminal,
                transient=True,
            ) as bar:
                task = bar.add_task("fetch", total=stats.bytes_needed)
                fetch(
                    remote,
                    planned,
                    stats,
                    jobs=jobs,
                    on_bytes=lambda n: bar.advance(task, n),
                    on_problem=problem,
                )
    counts = {"out": str(out), "dry_run": dry_run, **stats.as_dict()}
    if json and not dry_run:
        write_line(encoder.encode(counts))
    elif json:
        write_line(encoder.encode({"summary": counts}))
    else:
        verb = "would fetch" if dry_run else "fetched"
        n = stats.selected - stats.complete if dry_run else stats.fetched
        size = stats.bytes_needed if dry_run else stats.bytes_fetched
        err.print(
            f"{stats.selected} files selected ({_size(stats.bytes_selected)}), "
            f"{stats.complete} already complete in {out}; {verb} {n} ({_size(size)})"
            + (f"; {stats.refetched} damaged copies fetched again" if stats.refetched else "")
            + (f"; {stats.failed} failed" if stats.failed else ""),
            markup=False,
        )
    if stats.failed:
        raise typer.Exit(1)


def _api(
    selection: Selection,
    out: Path,
    api_url: str,
    limit: int,
    interval: float,
    dry_run: bool,
    json: bool,
) -> None:
    from voipwatch.fetch.api import Api, pull
    from voipwatch.fetch.layout import api_test_name

    if dry_run:
        from voipwatch.errors import UsageError

        raise UsageError("--dry-run lists the bucket; it does not apply to --api")
    first, last = selection.days[0], selection.days[-1]
    target = out / f"api-{first:%Y%m%d}-{last:%Y%m%d}.jsonl"
    tests = tuple(api_test_name(t) for t in selection.tests)
    with _client() as client:
        remote = Api(api_url, client, interval=interval)
        stats = pull(
            remote,
            target,
            tests=tests,
            countries=selection.countries,
            since=first,
            until=last + timedelta(days=1),
            limit=limit,
            on_problem=problem,
        )
    counts = {"out": str(target), **stats.as_dict()}
    if json:
        write_line(encoder.encode(counts))
    else:
        err.print(
            f"{stats.fetched} measurements appended to {target} ({stats.skipped} already "
            f"there, {stats.failed} failed; waited {stats.waited_seconds:.0f} s for the "
            "API's rate limit)",
            markup=False,
        )
    if stats.failed and not stats.fetched:
        raise typer.Exit(1)
