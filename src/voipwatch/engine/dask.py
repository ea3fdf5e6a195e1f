"""The Dask engine: the same per-file work, run by ``dask.distributed`` workers.

With no scheduler address it starts a :class:`distributed.LocalCluster` of worker
processes on this machine (one thread each: the work is pure Python and holds the
GIL); with ``scheduler="tcp://HOST:PORT"`` it joins a running cluster, whose workers
may sit on other hosts. Either way only small values travel through Dask: the item
(a path and a few numbers) and the result (counts). Rows go from the workers to
the committing process through files in a directory both can see — on one machine
any local directory, across hosts a shared filesystem — so nothing but rows crosses
the network.

Every item is its own task (``pure=False``): Dask must not merge two runs over the
same file, nor keep a result for the next run to reuse.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from voipwatch.engine.base import ClosesOnExit, Pending, submit_ahead
from voipwatch.errors import InvalidValue, UsageError

T = TypeVar("T")
R = TypeVar("R")

#: What a local worker may hold before Dask pauses it: well above the work's own
#: bounded needs (a chunk of records), so it only trips on a real leak.
LOCAL_MEMORY_LIMIT = "1GiB"


class DaskEngine(ClosesOnExit):
    """Maps ``fn`` over items on a Dask cluster, ``ahead`` items in flight.

    ``workers`` is the number of local worker processes to start, or, with
    ``scheduler``, ignored for the cluster (its size is what it is) and read back
    from it to bound the items in flight.
    """

    concurrent = True

    def __init__(self, workers: int | None = None, *, scheduler: str | None = None) -> None:
        try:
            import distributed
        except ImportError as exc:  # pragma: no cover - a dependency of voipwatch
            raise InvalidValue("engine", "dask", "dask needs the 'distributed' package") from exc
        dist: Any = distributed  # its API is untyped
        if workers is not None and workers < 1:
            raise InvalidValue("workers", workers, f"must be at least 1, not {workers}")
        self._cluster: Any = None
        # Dask logs every worker start and stop at INFO; progress is ours to show.
        for name in ("distributed", "distributed.scheduler", "distributed.nanny"):
            logging.getLogger(name).setLevel(logging.WARNING)
        try:
            if scheduler is None:
                # Dask's workers sample their tasks' stacks every 10 ms by default; on
                # this pure-Python work that costs a fifth more CPU per measurement.
                # The setting travels with the local workers; a cluster's own workers
                # take it from their configuration (see the README).
                import dask

                dask.config.set({"distributed.worker.profile.enabled": False})
                self._cluster = dist.LocalCluster(
                    n_workers=workers or 1,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # With no dashboard the scheduler still serves its health and
                    # metrics routes, by default on port 8787 of every interface: a
                    # second local cluster then warns, and the port is open beyond
                    # this machine. A free loopback port keeps it local and apart.
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                    memory_limit=LOCAL_MEMORY_LIMIT,
                    silence_logs=logging.WARNING,
                )
                self._client: Any = dist.Client(self._cluster)
            else:
                self._client = dist.Client(scheduler, timeout="30s")
        except OSError as exc:
            if self._cluster is not None:
                self._cluster.close()
            where = scheduler or "a local cluster"
            raise UsageError(f"cannot reach the Dask scheduler at {where}: {exc}") from exc
        if scheduler is None:
            self.workers = workers or 1
        else:
            info = self._client.scheduler_info()
            self.workers = max(1, sum(w.get("nthreads", 1) for w in info["workers"].values()))
        self.ahead = self.workers + 1
        self._futures: set[Any] = set()

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Pending[R]]:
        def submit(item: T) -> Any:
            fut = self._client.submit(fn, item, pure=False, retries=0)
            self._futures.add(fut)
            return fut

        for fut in submit_ahead(items, self.ahead, submit):
            self._futures.discard(fut)
            yield fut

    def close(self) -> None:
        """Cancel what is still queued or running, then leave (or stop) the cluster."""
        client, self._client = getattr(self, "_client", None), None
        if client is None:
            return
        with contextlib.suppress(Exception):
            if self._futures:
                client.cancel(list(self._futures), force=True)
        self._futures.clear()
        with contextlib.suppress(Exception):
            client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()
            self._cluster = None
