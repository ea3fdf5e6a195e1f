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
from voipwatch.engine.process import ProcessEngine
from voipwatch.engine.serial import SerialEngine

__all__ = ["Engine", "Pending", "ProcessEngine", "SerialEngine", "default_workers"]
