"""``voipwatch probe``: measure this network.

The probe asks for consent before anything touches the network, locates itself
(country and network, never the address: see :mod:`voipwatch.locate`), measures,
writes the measurements to a file, and with ``--upload`` queues them and sends the
queue to a collector (after a second consent, to uploading).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voipwatch.cli.options import JsonOpt, encoder, said
from voipwatch.cli.outfile import check_target
from voipwatch.cli.output import OK, USAGE
from voipwatch.cli.upload import QueueOpt, send_queue
from voipwatch.console import err, out, problem, progress, write_line
from voipwatch.errors import LocationDbError, UsageError

if TYPE_CHECKING:
    from voipwatch.probe import ProbeConfig
    from voipwatch.probe.route import ToolSpec
    from voipwatch.upload import Queue

UploadOpt = Annotated[
    str | None,
    typer.Option(
        "--upload",
        help="Also send the measurements to this collector (OONI's collector protocol, "
        "e.g. a voipwatch serve --collector-spool server); they wait in the upload "
        "queue until it acknowledges them.",
        show_default=False,
    ),
]


def _ask(text: str, question: str, *, yes: bool, upload: bool) -> None:
    """Consent (``upload``: to uploading), asked once and remembered; exit 2 without."""
    from voipwatch.probe import consent

    if yes or consent.has_consented(upload=upload):
        return
    if not consent.interactive():
        problem(
            "voipwatch probe: this needs your consent, and there is no terminal to ask "
            "on. Run it once interactively, or pass --yes if you accept the risks:\n" + text
        )
        raise typer.Exit(USAGE)
    err.print(text, markup=False)
    if not typer.confirm(question, default=False, err=True):
        problem("Nothing was measured." if not upload else "Nothing was measured or sent.")
        raise typer.Exit(USAGE)
    consent.remember(upload=upload)


def probe(
    apps: Annotated[
        str | None,
        typer.Option("--apps", help="Comma list of apps (default: all)."),
    ] = None,
    plane: Annotated[str, typer.Option("--plane", help="signalling, media or all.")] = "signalling",
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write the measurements (JSONL; default: a timestamped file "
            "in the user data directory).",
            show_default=False,
        ),
    ] = None,
    json: JsonOpt = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask for consent (automation).")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="Probe configuration (TOML).")
    ] = None,
    probe_cc: Annotated[
        str | None,
        typer.Option("--cc", "--probe-cc", help="Country code to record instead of looking it up."),
    ] = None,
    probe_asn: Annotated[
        str | None,
        typer.Option(
            "--asn", "--probe-asn", help="Network to record instead of looking it up (AS12345)."
        ),
    ] = None,
    location_db: Annotated[
        list[Path] | None,
        typer.Option(
            "--location-db",
            help="A MaxMind-format database (.mmdb: GeoLite2, DB-IP, IPinfo, OONI "
            "probe-assets) to look up country and AS number in (repeatable; default: "
            "$VOIPWATCH_LOCATION_DB, then those voipwatch locate refresh keeps, then the "
            "bundled one, which has no AS numbers).",
            show_default=False,
        ),
    ] = None,
    helper_host: Annotated[
        str | None,
        typer.Option(
            "--helper",
            help="The call-plane test helper's address (voipwatch helper serve), "
            "instead of [probe.helper] address.",
        ),
    ] = None,
    residual: Annotated[
        bool,
        typer.Option(
            "--residual",
            help="Also check for residual censorship (with --plane media or all; takes "
            "minutes: it waits for a block to lift, [probe.helper] residual_wait).",
        ),
    ] = False,
    via_tool: Annotated[
        str | None,
        typer.Option(
            "--via",
            help="Also run the same tests through a circumvention tool's local proxy "
            "port: socks5://HOST:PORT (UDP too, if the tool relays it) or http://HOST:PORT "
            "(CONNECT, TCP only); name it with #NAME, e.g. socks5://127.0.0.1:9050#tor.",
        ),
    ] = None,
    upload: UploadOpt = None,
    queue_dir: QueueOpt = None,
) -> None:
    """Measure whether messaging and calling apps are blocked on this network, and how.

    Apps: whatsapp, telegram, signal, messenger, viber, skype, zoom, imo, line, wechat
    (signalling); whatsapp, telegram, signal, messenger, skype, zoom, facetime (media:
    STUN/TURN, UDP ports, SIP, media and throughput A/B against the test helper).
    Measurements (OONI data format) go to --out, with the country and network the
    probe found itself in (never its IP address); with --upload they are also sent to
    a collector. A plain-language summary goes to stdout (with --json: one verdict per
    measurement).
    """
    from voipwatch.probe import consent

    ids, cfg, tool = _settings(
        apps,
        plane,
        config,
        helper_host=helper_host,
        via_tool=via_tool,
        residual=residual,
        upload=upload,
    )
    if plane != "signalling" and not cfg.helper.address:
        problem(
            "voipwatch probe: no call-plane test helper configured (--helper, or "
            "[probe.helper] address): "
            "only the apps' own servers and public STUN servers are tested"
        )
    _ask(consent.RISKS, "Measure this network now?", yes=yes, upload=False)
    if upload is not None:
        _ask(consent.UPLOAD_RISKS, "Upload the measurements?", yes=yes, upload=True)
    out_file, queue = _outputs(out_file, queue_dir, queued=upload is not None)
    cfg = _located(cfg, probe_cc, probe_asn, location_db or [])
    lines = _measure(cfg, ids, plane, tool)
    out_file.write_bytes(b"".join(line + b"\n" for line in lines))
    status = OK
    if queue is not None and upload is not None:
        for line in lines:
            queue.put(line)
        status = send_queue(queue.root, upload, json=False, source=cfg.source_address)
    _show(lines, out_file, json=json, via=tool is not None)
    if status:
        raise typer.Exit(status)


def _settings(
    apps: str | None,
    plane: str,
    config: Path | None,
    *,
    helper_host: str | None,
    via_tool: str | None,
    residual: bool,
    upload: str | None,
) -> tuple[list[str], ProbeConfig, ToolSpec | None]:
    """The apps, configuration and tool the options ask for; exit 2 when they cannot be."""
    import msgspec.structs

    from voipwatch.probe import load_config, resolve_apps
    from voipwatch.probe.route import BadTool, parse_tool

    try:
        if plane not in ("signalling", "media", "all"):
            raise UsageError(f"--plane: {plane!r} is not signalling, media or all")
        ids = resolve_apps([a for a in apps.split(",") if a.strip()] if apps else None, plane)
        cfg = load_config(config)
        if helper_host:
            try:
                cfg = msgspec.structs.replace(
                    cfg, helper=msgspec.structs.replace(cfg.helper, address=helper_host)
                )
            except ValueError:
                raise UsageError(f"--helper: {helper_host!r} is not an IP address") from None
        tool = None
        if via_tool is not None:
            try:
                tool = parse_tool(via_tool)
            except BadTool as exc:
                raise UsageError(f"--via {exc.value!r}: {exc.reason}") from None
        if residual:
            if plane == "signalling":
                raise UsageError("--residual is a call-plane check: add --plane media or all")
            cfg = msgspec.structs.replace(
                cfg, helper=msgspec.structs.replace(cfg.helper, residual=True)
            )
        if upload is not None and not upload.startswith(("http://", "https://")):
            raise UsageError(f"--upload: {upload!r} is not an http:// or https:// URL")
    except UsageError as exc:
        problem(f"voipwatch probe: {said(exc)}")
        raise typer.Exit(USAGE) from None
    return ids, cfg, tool


def _outputs(
    out_file: Path | None, queue_dir: Path | None, *, queued: bool
) -> tuple[Path, Queue | None]:
    """The file the measurements go to (made empty, so a run that fails later leaves no
    stale evidence there) and, when ``queued``, the upload queue; exit 2 when the file
    cannot be written."""
    import platformdirs

    from voipwatch.upload import Queue, default_queue

    try:
        if out_file is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            out_file = Path(platformdirs.user_data_dir("voipwatch")) / "probe" / f"{stamp}.jsonl"
            # Our own folder: made on first use. A folder the user names must exist.
            out_file.parent.mkdir(parents=True, exist_ok=True)
        check_target(out_file)
        out_file.touch()
        queue = Queue(queue_dir or default_queue()) if queued else None
    except UsageError as exc:
        problem(f"voipwatch probe: {said(exc)}")
        raise typer.Exit(USAGE) from None
    except OSError as exc:
        problem(f"voipwatch probe: --out {out_file}: {exc.strerror or exc}")
        raise typer.Exit(USAGE) from None
    return out_file, queue


def _located(
    cfg: ProbeConfig, cc: str | None, asn: str | None, databases: list[Path]
) -> ProbeConfig:
    """``cfg`` with the country and network the measurements will record, said on stderr;
    exit 2 when a location database named cannot be read."""
    from voipwatch.locate import describe, where

    try:
        cfg, location = where(
            cfg, cc=cc, asn=asn, databases=[str(p) for p in databases], env=os.environ
        )
    except LocationDbError as exc:
        problem(f"voipwatch probe: --location-db {exc}")
        raise typer.Exit(USAGE) from None
    err.print(describe(location), markup=False)
    return cfg


def _measure(cfg: ProbeConfig, ids: list[str], plane: str, tool: ToolSpec | None) -> list[bytes]:
    """Run the tests, with progress on stderr; each measurement as the JSON line written."""
    from voipwatch.probe import run

    with progress() as bar:
        task = bar.add_task("probe", total=None, detail="")

        def on_progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, detail=what)

        measurements = run(cfg, ids, on_progress=on_progress, plane=plane, tool=tool)
    return [encoder.encode(m) for m in measurements]


def _show(lines: list[bytes], out_file: Path, *, json: bool, via: bool) -> None:
    """Judge the measurements as written to ``out_file`` and say what they show: one
    verdict per line with ``json``, else a plain-language summary (and, measured ``via``
    a tool, what it changed) and where the evidence is."""
    from voipwatch.catalog import load as load_catalog
    from voipwatch.probe import summary
    from voipwatch.verdicts import judge_bytes
    from voipwatch.via import judge_via_bytes, verdict_object
    from voipwatch.via import summary as via_summary

    verdicts = [
        judge_bytes(line, source=str(out_file), line=i + 1).verdict for i, line in enumerate(lines)
    ]
    outcomes = [judge_via_bytes(line, v) for line, v in zip(lines, verdicts, strict=True)]
    if json:
        for v, o in zip(verdicts, outcomes, strict=True):
            write_line(encoder.encode(verdict_object(v, o)))
        return
    for text in summary(verdicts):
        out.print(text, markup=False)
    if via:
        out.print("", markup=False)
        for text in via_summary([x for o in outcomes for x in o], load_catalog()):
            out.print(text, markup=False)
    out.print(f"\nEvidence: {out_file}", markup=False)
    for v in verdicts:
        out.print(f"  {v.test_name}: {v.measurement_uid} ({v.status})", markup=False)
