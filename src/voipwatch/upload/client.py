"""Send measurements to a collector with OONI's protocol, retrying within bounds.

Each measurement is sent in a report of its own (open, submit, close), so a
measurement that is retried later never depends on a report a collector restart
forgot. A collector that is down, rate-limits or fails (HTTP 5xx) is tried again
after a pause, ``attempts`` times in all; then the measurement stays queued for the
next ``voipwatch upload``, and the rest of the queue waits with it. A refusal
(HTTP 4xx) is final: the measurement moves to the queue's ``rejected/`` folder with
the collector's reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
import msgspec

from voipwatch.collector import FORMAT, Accepted, OpenReport, ReportOpened
from voipwatch.errors import UploadError
from voipwatch.upload.queue import Queue

#: Tries per measurement, and the pause before each retry (seconds, doubling).
ATTEMPTS: Final = 3
FIRST_PAUSE: Final = 1.0


@dataclass
class Outcome:
    """What one delivery did: measurement uids acknowledged, files refused, and how
    many stay queued (with the last error that kept them)."""

    acknowledged: list[str] = field(default_factory=list)
    rejected: list[Path] = field(default_factory=list)
    queued: int = 0
    error: UploadError | None = None


def _post(client: httpx.Client, url: str, body: bytes) -> bytes:
    try:
        resp = client.post(url, content=body, headers={"Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        raise UploadError(url, 0, str(exc) or type(exc).__name__) from None
    if resp.status_code != 200:
        try:
            reason = str(msgspec.json.decode(resp.content).get("error", ""))
        except (msgspec.DecodeError, AttributeError):
            reason = ""
        raise UploadError(url, resp.status_code, reason or resp.reason_phrase)
    return resp.content


def submit(client: httpx.Client, collector: str, measurement: bytes) -> str:
    """Open a report, submit ``measurement``, close the report; its measurement uid."""
    base = collector.rstrip("/")
    try:
        # The report's metadata are the measurement's own fields of the same names.
        report = msgspec.json.decode(measurement, type=OpenReport)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UploadError(base, 400, f"not a measurement: {exc}") from None
    try:
        opened = msgspec.json.decode(
            _post(client, f"{base}/report", msgspec.json.encode(report)), type=ReportOpened
        )
        body = b'{"format":"' + FORMAT.encode() + b'","content":' + measurement + b"}"
        accepted = msgspec.json.decode(
            _post(client, f"{base}/report/{opened.report_id}", body), type=Accepted
        )
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UploadError(base, 502, f"not a collector's answer: {exc}") from None
    # The measurement is kept once acknowledged; a close that fails changes nothing.
    with contextlib.suppress(UploadError):
        _post(client, f"{base}/report/{opened.report_id}/close", b"{}")
    return accepted.measurement_uid


def deliver(
    queue: Queue,
    collector: str,
    client: httpx.Client,
    *,
    sleep: Callable[[float], None],
    attempts: int = ATTEMPTS,
    first_pause: float = FIRST_PAUSE,
) -> Outcome:
    """Send every queued measurement to ``collector``, oldest first."""
    outcome = Outcome()
    pending = queue.pending()
    for i, path in enumerate(pending):
        try:
            data = path.read_bytes().strip()
        except FileNotFoundError:
            continue  # another upload sent it meanwhile
        pause = first_pause
        for attempt in range(attempts):
            try:
                outcome.acknowledged.append(submit(client, collector, data))
                queue.sent(path)
                break
            except UploadError as exc:
                if not exc.retryable:
                    outcome.rejected.append(queue.reject(path, str(exc)))
                    break
                outcome.error = exc
                if attempt + 1 < attempts:
                    sleep(pause)
                    pause *= 2
        else:
            outcome.queued = len(pending) - i
            return outcome
    return outcome
