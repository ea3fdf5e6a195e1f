"""A local mirror of part of OONI's bucket: what to fetch, and fetching it.

The mirror keeps the bucket's keys as paths below its root. Planning lists the
bucket for a :class:`~voipwatch.fetch.layout.Selection` and compares each object
with the local copy: a copy whose size and checksum match is complete and is not
fetched again, so an interrupted run simply resumes; one that differs (a broken
or tampered file) is fetched again. Downloads run in a thread pool, land under a
``.part`` name (resumed with a range request after an interruption) and take their
final name only once verified.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from voipwatch.errors import FetchError
from voipwatch.fetch.bucket import Bucket, RemoteObject, verify
from voipwatch.fetch.layout import Selection

State = Literal["missing", "partial", "corrupt", "complete"]
#: Parallel downloads by default: enough to fill a link, few enough to be polite.
DEFAULT_JOBS: Final = 4


@dataclass(frozen=True, slots=True)
class Planned:
    obj: RemoteObject
    path: Path
    state: State
    #: Why a local copy is not good (for ``corrupt``).
    reason: str = ""

    @property
    def needed(self) -> bool:
        return self.state != "complete"


@dataclass(slots=True)
class FetchStats:
    listed: int = 0
    selected: int = 0
    complete: int = 0
    fetched: int = 0
    refetched: int = 0
    failed: int = 0
    bytes_selected: int = 0
    bytes_needed: int = 0
    bytes_fetched: int = 0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "listed": self.listed,
            "selected": self.selected,
            "complete": self.complete,
            "fetched": self.fetched,
            "refetched": self.refetched,
            "failed": self.failed,
            "bytes_selected": self.bytes_selected,
            "bytes_needed": self.bytes_needed,
            "bytes_fetched": self.bytes_fetched,
        }


def local_state(obj: RemoteObject, path: Path) -> tuple[State, str]:
    """How the local copy of ``obj`` stands (hashing it when its size is right)."""
    if not path.exists():
        part = path.with_name(path.name + ".part")
        return ("partial", "") if part.exists() else ("missing", "")
    problem = verify(path, obj)
    return ("complete", "") if problem is None else ("corrupt", problem)


def plan(
    bucket: Bucket,
    selection: Selection,
    root: Path,
    stats: FetchStats,
    *,
    on_listed: Callable[[str, int], None] | None = None,
) -> list[Planned]:
    """List the selection's objects, in key order, with the state of each local copy."""
    found: dict[str, RemoteObject] = {}
    for prefix in selection.prefixes():
        for obj in bucket.list(prefix):
            stats.listed += 1
            if selection.wants(obj.key):
                found[obj.key] = obj
        if on_listed is not None:
            on_listed(prefix, len(found))
    planned = []
    for key in sorted(found):
        obj = found[key]
        path = root.joinpath(*key.split("/"))
        state, reason = local_state(obj, path)
        planned.append(Planned(obj, path, state, reason))
        stats.selected += 1
        stats.bytes_selected += obj.size
        if state == "complete":
            stats.complete += 1
        else:
            stats.bytes_needed += obj.size
    return planned


def fetch(
    bucket: Bucket,
    planned: list[Planned],
    stats: FetchStats,
    *,
    jobs: int = DEFAULT_JOBS,
    on_bytes: Callable[[int], None] | None = None,
    on_problem: Callable[[str], None] | None = None,
) -> FetchStats:
    """Download every needed object of ``planned``, ``jobs`` at a time.

    A file that cannot be fetched is reported and counted; the others go on.
    """
    lock = threading.Lock()

    def count(n: int) -> None:
        with lock:
            stats.bytes_fetched += n
        if on_bytes is not None:
            on_bytes(n)

    needed = [p for p in planned if p.needed]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(bucket.download, p.obj, p.path, count): p for p in needed}
        for fut in as_completed(futures):
            p = futures[fut]
            try:
                fut.result()
            except FetchError as exc:
                stats.failed += 1
                stats.failures.append(str(exc))
                if on_problem is not None:
                    on_problem(str(exc))
            except OSError as exc:
                stats.failed += 1
                message = f"{p.path}: cannot write: {exc.strerror or exc}"
                stats.failures.append(message)
                if on_problem is not None:
                    on_problem(message)
            else:
                stats.fetched += 1
                if p.state == "corrupt":
                    stats.refetched += 1
    return stats
