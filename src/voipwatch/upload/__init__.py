"""The upload room: a probe's measurements to a collector, through a local queue.

``Queue`` keeps measurements on disk until acknowledged; ``deliver`` sends what is
queued with OONI's collector protocol (``submit``), retrying within bounds.
"""

from voipwatch.upload.client import ATTEMPTS, Outcome, deliver, submit
from voipwatch.upload.queue import Queue, default_queue

__all__ = ["ATTEMPTS", "Outcome", "Queue", "default_queue", "deliver", "submit"]
