"""Scheduled OONI fetches: every so often, mirror the latest days and hand new files over.

Each run mirrors the selection's last :data:`LOOKBACK_DAYS` days of OONI's bucket
with :mod:`voipwatch.fetch` (resumable, verified) into a mirror folder, and then
hands every complete file of the selection that was not handed over yet to the
watched folder's ``incoming/`` (a hard link, or a copy, under a temporary name,
then an atomic rename); the worker ingests it like any other file. A marker beside
the mirrored file records the handover, written after it: a run killed in between
hands the file over again next time, which stores nothing twice.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from voipwatch.errors import FetchError, UsageError
from voipwatch.fetch.bucket import Bucket
from voipwatch.fetch.layout import Selection
from voipwatch.fetch.mirror import FetchStats, fetch, local_state, plan
from voipwatch.observatory.spool import Spool

__all__ = ["FetchSchedule", "Fetcher", "parse_every"]

log = logging.getLogger(__name__)

#: Days fetched by each run: today's files and yesterday's (OONI uploads late).
LOOKBACK_DAYS: Final = 2
MARKER: Final = ".handed"
#: The shortest period between runs: OONI's bucket is public, not ours to hammer.
MIN_EVERY: Final = timedelta(minutes=5)

_EVERY = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_every(text: str, *, shortest: timedelta = MIN_EVERY) -> timedelta:
    """``"1h"``, ``"30m"``, ``"2d"`` → a period; at least ``shortest``."""
    m = _EVERY.match(text)
    if m is None:
        raise UsageError(f"not a period: {text!r} (a number and s, m, h or d, e.g. 1h)")
    every = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if every < shortest:
        raise UsageError(f"a period of {text!r} is too short: at least {shortest}")
    return every


@dataclass(frozen=True, slots=True)
class FetchSchedule:
    """What to fetch, how often, and where the mirror lives."""

    every: timedelta
    countries: tuple[str, ...]
    tests: tuple[str, ...]
    mirror: Path

    def selection(self, now: datetime) -> Selection:
        today = now.date()
        days = tuple(today - timedelta(days=n) for n in reversed(range(LOOKBACK_DAYS)))
        return Selection(days, self.countries, self.tests)


def _hand_over(path: Path, key: str, spool: Spool) -> None:
    name = key.replace("/", "_")
    tmp = spool.incoming / f".{name}.part"
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copyfile(path, tmp)
    os.replace(tmp, spool.incoming / name)


class Fetcher:
    """Runs the schedule on a thread of its own; the worker never waits for OONI."""

    def __init__(
        self,
        schedule: FetchSchedule,
        bucket: Bucket,
        spool: Spool,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.schedule = schedule
        self.bucket = bucket
        self.spool = spool
        self.clock = clock
        self.runs = 0
        self.handed = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> FetchStats:
        """Fetch the latest days and hand over what the spool has not had yet."""
        stats = FetchStats()
        selection = self.schedule.selection(self.clock())
        planned = plan(self.bucket, selection, self.schedule.mirror, stats)
        fetch(self.bucket, planned, stats)
        for p in planned:
            marker = p.path.with_name(p.path.name + MARKER)
            if p.needed:
                # Fetched (or fetched anew) this run, if it now passes its check.
                if local_state(p.obj, p.path)[0] != "complete":
                    continue
            elif marker.exists():
                continue
            _hand_over(p.path, p.obj.key, self.spool)
            marker.touch()
            self.handed += 1
        self.runs += 1
        return stats

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                stats = self.run_once()
                self.last_error = "; ".join(stats.failures[:3]) or None
            except (FetchError, OSError) as exc:
                self.last_error = str(exc)
                log.error("voipwatch fetch: %s (next try in %s)", exc, self.schedule.every)
            self._stop.wait(self.schedule.every.total_seconds())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="voipwatch-fetch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the run under way (its downloads resume next time)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            if self._thread.is_alive():
                return  # a download still running; the daemon thread ends with the process
        self.bucket.client.close()
