"""Small, interactive pulls from the OONI API: a list query, then each raw measurement.

OONI asks that its API not be used for bulk work (the bucket is for that), and it
rate-limits each client. So a pull is capped (:data:`MAX_LIMIT` measurements),
spaces its requests (``interval`` seconds apart), and waits as told on HTTP 429
(``Retry-After``) before trying again. Measurements are appended to one JSONL
file, each with its ``measurement_uid``; those already in the file are skipped, so
an interrupted pull resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import httpx
import orjson

from voipwatch.errors import FetchError, InvalidValue, UsageError

OONI_API: Final = "https://api.ooni.org"
DEFAULT_LIMIT: Final = 100
#: Beyond this many measurements, use the bucket (``voipwatch fetch`` without --api).
MAX_LIMIT: Final = 10_000
#: Seconds between two requests, by default.
DEFAULT_INTERVAL: Final = 1.0
#: How many times one request is tried (429s and transient errors included).
ATTEMPTS: Final = 6
PAGE: Final = 100


@dataclass(slots=True)
class ApiStats:
    listed: int = 0
    fetched: int = 0
    skipped: int = 0
    failed: int = 0
    waited_seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return {
            "listed": self.listed,
            "fetched": self.fetched,
            "skipped": self.skipped,
            "failed": self.failed,
            "waited_seconds": round(self.waited_seconds, 1),
        }


class Api:
    """The OONI API at ``base``, one request at a time, at most one per ``interval``."""

    def __init__(
        self,
        base: str,
        client: httpx.Client,
        *,
        interval: float = DEFAULT_INTERVAL,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base.startswith(("http://", "https://")):
            raise InvalidValue("api_url", base, f"{base!r} is not an http:// or https:// URL")
        self.base = base.rstrip("/")
        self.client = client
        self.interval = interval
        self.sleep = sleep
        self.clock = clock
        self.stats = ApiStats()
        self._last = float("-inf")

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.waited_seconds += seconds
            self.sleep(seconds)

    def get_json(self, url: str, params: dict[str, str] | None = None) -> Any:
        delay = self.interval or 1.0
        for attempt in range(ATTEMPTS):
            self._pause(self._last + self.interval - self.clock())
            self._last = self.clock()
            try:
                resp = self.client.get(url, params=params)
            except httpx.TransportError as exc:
                if attempt == ATTEMPTS - 1:
                    raise FetchError(f"{url}: {exc.__class__.__name__}: {exc}") from exc
                self._pause(delay)
                delay *= 2
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                if attempt == ATTEMPTS - 1:
                    raise FetchError(f"{url}: HTTP {resp.status_code} after {ATTEMPTS} tries")
                wait = delay
                value = resp.headers.get("retry-after", "")
                if value.replace(".", "", 1).isdigit():
                    wait = min(float(value), 300.0)
                self._pause(wait)
                delay *= 2
                continue
            if resp.status_code != 200:
                raise FetchError(f"{url}: HTTP {resp.status_code}")
            try:
                return orjson.loads(resp.content)
            except orjson.JSONDecodeError as exc:
                raise FetchError(f"{url}: the answer is not JSON ({exc})") from exc
        raise AssertionError("unreachable")

    def measurements(
        self, *, test: str, since: date, until: date, cc: str | None, limit: int
    ) -> Iterator[dict[str, Any]]:
        """``/api/v1/measurements`` results, following ``next_url``, up to ``limit``."""
        query = {
            "test_name": test,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "order_by": "measurement_start_time",
            "order": "asc",
            "limit": str(min(PAGE, limit)),
        }
        if cc:
            query["probe_cc"] = cc
        params: dict[str, str] | None = query
        url: str | None = f"{self.base}/api/v1/measurements"
        given = 0
        while url is not None and given < limit:
            page = self.get_json(url, params)
            results = page.get("results") if isinstance(page, dict) else None
            if not isinstance(results, list):
                raise FetchError(f"{url}: no 'results' list in the answer")
            for r in results:
                if isinstance(r, dict) and r.get("measurement_uid") and given < limit:
                    given += 1
                    yield r
            meta = page.get("metadata") or {}
            nxt = meta.get("next_url") if isinstance(meta, dict) else None
            url = str(httpx.URL(self.base + "/").join(nxt)) if nxt and results else None
            params = None  # next_url carries them

    def raw(self, uid: str) -> dict[str, Any]:
        data = self.get_json(f"{self.base}/api/v1/raw_measurement", {"measurement_uid": uid})
        if not isinstance(data, dict) or "test_keys" not in data:
            raise FetchError(f"raw_measurement {uid}: not a measurement")
        return data


def _uids_in(path: Path) -> set[str]:
    uids: set[str] = set()
    if not path.exists():
        return uids
    with path.open("rb") as fh:
        for line in fh:
            try:
                d = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line cut by an interruption; fetched again
            if isinstance(d, dict) and isinstance(d.get("measurement_uid"), str):
                uids.add(d["measurement_uid"])
    return uids


def _ends_cut(path: Path) -> bool:
    with path.open("rb") as fh:
        if fh.seek(0, 2) == 0:
            return False
        fh.seek(-1, 2)
        return fh.read(1) != b"\n"


def pull(
    api: Api,
    out: Path,
    *,
    tests: tuple[str, ...],
    countries: tuple[str, ...],
    since: date,
    until: date,
    limit: int,
    on_item: Callable[[str], None] | None = None,
    on_problem: Callable[[str], None] | None = None,
) -> ApiStats:
    """Append up to ``limit`` measurements per test and country to ``out`` (JSONL)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(
            f"--limit {limit}: the API is for small pulls (1 to {MAX_LIMIT}); "
            "fetch from the bucket for more"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    have = _uids_in(out)
    stats = api.stats
    with out.open("ab") as fh:
        # A line cut by an earlier interruption must not swallow the next one.
        if _ends_cut(out):
            fh.write(b"\n")
        for test in tests:
            for cc in countries or (None,):
                found = api.measurements(test=test, since=since, until=until, cc=cc, limit=limit)
                for meta in found:
                    uid = str(meta["measurement_uid"])
                    stats.listed += 1
                    if uid in have:
                        stats.skipped += 1
                        continue
                    try:
                        raw = api.raw(uid)
                    except FetchError as exc:
                        stats.failed += 1
                        if on_problem is not None:
                            on_problem(str(exc))
                        continue
                    raw.setdefault("measurement_uid", uid)
                    fh.write(orjson.dumps(raw) + b"\n")
                    fh.flush()
                    have.add(uid)
                    stats.fetched += 1
                    if on_item is not None:
                        on_item(uid)
    return stats
