"""Executors that map pure per-file work over files: in process, or in a process pool.

The work itself belongs to its tier (ingest's is
:func:`voipwatch.store.prepare.prepare_file`); an engine only decides where it runs.
Every engine has the same shape (:class:`Engine`): ``map(fn, items)`` yields one
handle per item, **in input order**, with a bounded number of items in flight, so
the caller can consume results in order and keep the semantics of a serial run.
A handle only needs ``done()`` and ``result()``, which ``concurrent.futures`` futures
and Dask's futures both provide.
"""

from voipwatch.engine.base import Engine, Pending, default_workers
from voipwatch.engine.dask import DaskEngine
from voipwatch.engine.process import ProcessEngine
from voipwatch.engine.serial import SerialEngine
from voipwatch.errors import InvalidValue, UsageError

__all__ = [
    "ENGINES",
    "Engine",
    "Pending",
    "ProcessEngine",
    "SerialEngine",
    "create_engine",
    "default_workers",
]

ENGINES = ("serial", "process", "dask")


def create_engine(
    name: str, *, workers: int | None, items: int, scheduler: str | None = None
) -> Engine:
    """The engine called ``name``, sized for ``items`` items (Dask is imported only here).

    ``workers`` defaults to :func:`default_workers`; a ``scheduler`` address (Dask
    only) joins a running cluster instead of starting local workers.
    """
    if name not in ENGINES:
        raise UsageError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
    if workers is not None and workers < 1:
        raise InvalidValue("workers", workers, f"must be at least 1, not {workers}")
    if scheduler is not None and name != "dask":
        raise InvalidValue("scheduler", scheduler, "is for the dask engine only")
    if name == "serial":
        if workers not in (None, 1):
            raise InvalidValue(
                "workers", workers, f"the serial engine runs one worker, not {workers}"
            )
        return SerialEngine()
    n = default_workers(items) if workers is None else workers
    if name == "process":
        return ProcessEngine(n)
    return DaskEngine(n, scheduler=scheduler)
