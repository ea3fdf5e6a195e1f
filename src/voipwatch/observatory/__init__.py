"""The running observatory: the server as the one writer of its store.

:class:`~voipwatch.observatory.worker.Worker` ingests the watched folder
(:class:`~voipwatch.observatory.spool.Spool`) in batches on a background thread,
recomputes the events after each, publishes a read-only snapshot for the pages and
for reading commands in other processes, and tells its listeners — the web app,
the webhooks (:func:`webhook_listener`) — what changed. A
:class:`~voipwatch.observatory.schedule.Fetcher` mirrors OONI's latest files on a
schedule and drops them into the same folder.
"""

from voipwatch.observatory.schedule import Fetcher, FetchSchedule, parse_every
from voipwatch.observatory.spool import Spool
from voipwatch.observatory.worker import BatchOutcome, Listener, Worker, webhook_listener

__all__ = [
    "BatchOutcome",
    "FetchSchedule",
    "Fetcher",
    "Listener",
    "Spool",
    "Worker",
    "parse_every",
    "webhook_listener",
]
