"""Webhooks: a signed JSON POST of the blocking events found and ended by a batch.

What changed is pure (:func:`changes`, :func:`payload`, :func:`sign`); delivery
runs on its own thread behind a bounded queue (:class:`WebhookSender`), so a slow,
hanging or absent receiver delays only its own notices, never the ingest that
produced them. Targets are the addresses an operator configured, checked once at
start; nothing in the data chooses where a request goes, and redirects are not
followed (a receiver cannot send the server elsewhere).

The receiver checks ``X-Voipwatch-Signature: sha256=<hex>``, the HMAC-SHA256 of the
exact body under the shared secret, before trusting anything in it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

import httpx
import msgspec

from voipwatch.alerts.feed import ALERT_KINDS
from voipwatch.errors import UsageError
from voipwatch.events import Event

__all__ = [
    "SIGNATURE_HEADER",
    "WebhookSender",
    "changes",
    "check_target",
    "payload",
    "sign",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Voipwatch-Signature"
#: Notices waiting for delivery; beyond this, new ones are dropped (and counted)
#: rather than let a dead receiver grow the server's memory.
QUEUE_SIZE: Final = 256
#: Attempts per notice and target, and the first wait between them (doubled each time).
ATTEMPTS: Final = 5
BACKOFF_SECONDS: Final = 2.0
#: Seconds a receiver gets to connect, and then between bytes of its answer.
TIMEOUT_SECONDS: Final = 5.0

_encoder = msgspec.json.Encoder()


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def check_target(url: str) -> str:
    """``url`` if it can be a webhook target (http or https, a host, no credentials)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"webhook {url!r}: only http:// and https:// addresses are allowed")
    if not parts.hostname:
        raise UsageError(f"webhook {url!r}: no host")
    if parts.username or parts.password:
        raise UsageError(f"webhook {url!r}: credentials in the address would be logged; drop them")
    return url


def changes(before: Iterable[Event], after: Iterable[Event]) -> tuple[list[Event], list[Event]]:
    """The blocking events ``after`` holds that ``before`` did not, and those that ended.

    Artefacts (outages, target changes, possible shutdowns) are not announced, as in
    the feed.
    """
    was = {e.event_id: e for e in before}
    new: list[Event] = []
    ended: list[Event] = []
    for e in after:
        if e.kind not in ALERT_KINDS:
            continue
        old = was.get(e.event_id)
        if old is None:
            new.append(e)
            if e.end is not None:
                ended.append(e)
        elif old.end is None and e.end is not None:
            ended.append(e)
    return new, ended


def payload(new: list[Event], ended: list[Event], *, now: datetime) -> bytes:
    """The JSON body: what was found and what ended, with the time it was sent."""
    return _encoder.encode(
        {"type": "voipwatch.events", "sent_at": now.isoformat(), "new": new, "ended": ended}
    )


@dataclass(frozen=True, slots=True)
class _Notice:
    target: str
    body: bytes


class WebhookSender:
    """Delivers notices to every target on a thread of its own; never blocks the caller."""

    def __init__(
        self,
        targets: Iterable[str],
        secret: bytes,
        *,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF_SECONDS,
        timeout: float = TIMEOUT_SECONDS,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        if not secret:
            raise UsageError("webhooks need a non-empty secret to sign with")
        self.targets = tuple(check_target(t) for t in targets)
        self._secret = secret
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._queue: queue.Queue[_Notice] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False
        )
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="voipwatch-webhooks", daemon=True)
        self._thread.start()

    def send(self, body: bytes) -> None:
        """Queue ``body`` for every target; drop it (counted) when the queue is full."""
        for target in self.targets:
            try:
                self._queue.put_nowait(_Notice(target, body))
            except queue.Full:
                self.dropped += 1
                log.warning("webhook %s: queue full, a notice was dropped", target)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                notice = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._deliver(notice)
            finally:
                self._queue.task_done()

    def _deliver(self, notice: _Notice) -> None:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, notice.body),
            "User-Agent": "voipwatch-webhook",
        }
        wait = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                resp = self._client.post(notice.target, content=notice.body, headers=headers)
                if 200 <= resp.status_code < 300:
                    self.delivered += 1
                    return
                reason = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            log.warning(
                "webhook %s: attempt %d of %d failed (%s)",
                notice.target,
                attempt,
                self._attempts,
                reason,
            )
            if attempt < self._attempts and self._stop.wait(wait):
                break
            wait *= 2
        self.failed += 1

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the queue to drain; whether it did."""
        done = threading.Event()

        def drain() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=drain, daemon=True).start()
        return done.wait(timeout)

    def close(self) -> None:
        """Stop delivering (notices still queued are dropped) and close the client.

        A delivery under way is not waited for to its end: the thread is a daemon, and
        a hanging receiver must not hold up the server's shutdown either.
        """
        self._stop.set()
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self._client.close()
