"""``voipwatch upload``: send the measurements waiting in the upload queue to a collector.

``voipwatch probe --upload`` queues its measurements and sends the queue the same way.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from voipwatch.cli.options import JsonOpt, encoder
from voipwatch.cli.output import USAGE
from voipwatch.console import err, problem, write_line

QueueOpt = Annotated[
    Path | None,
    typer.Option(
        "--queue",
        envvar="VOIPWATCH_UPLOAD_QUEUE",
        help="The upload queue folder (default: upload-queue in the user data directory).",
        show_default=False,
    ),
]


def upload(
    to: Annotated[
        str,
        typer.Option(
            "--to", help="The collector's URL (as given to probe --upload).", show_default=False
        ),
    ],
    queue_dir: QueueOpt = None,
    json: JsonOpt = False,
) -> None:
    """Send the measurements waiting in the upload queue to a collector.

    Each is retried a few times when the collector is down; what still fails stays
    queued (exit status 1); what the collector refuses moves to the queue's rejected/
    folder with its reason.
    """
    if not to.startswith(("http://", "https://")):
        problem(f"voipwatch upload: --to: {to!r} is not an http:// or https:// URL")
        raise typer.Exit(USAGE)
    status = send_queue(queue_dir, to, json=json)
    if status:
        raise typer.Exit(status)


def send_queue(queue_dir: Path | None, collector: str, *, json: bool, source: str = "") -> int:
    """Deliver the queue to ``collector``; the exit status (0 all sent, 1 some left).

    ``source`` is the local address to connect from (the probe's ``source_address``)."""
    import httpx

    from voipwatch.upload import Queue, default_queue, deliver

    queue = Queue(queue_dir or default_queue())
    transport = httpx.HTTPTransport(local_address=source or None)
    with httpx.Client(timeout=30.0, transport=transport) as client:
        outcome = deliver(queue, collector, client, sleep=time.sleep)
    if json:
        write_line(
            encoder.encode(
                {
                    "acknowledged": outcome.acknowledged,
                    "rejected": [str(p) for p in outcome.rejected],
                    "queued": outcome.queued,
                    "error": str(outcome.error) if outcome.queued and outcome.error else None,
                }
            )
        )
    else:
        err.print(
            f"Uploaded {len(outcome.acknowledged)} measurement(s) to {collector}.", markup=False
        )
    for path in outcome.rejected:
        problem(f"voipwatch upload: refused by the collector, kept in {path}")
    if outcome.queued:
        problem(
            f"voipwatch upload: {outcome.queued} measurement(s) stay queued in {queue.root} "
            f"({outcome.error}); run voipwatch upload --to {collector} later"
        )
        return 1
    return 0
