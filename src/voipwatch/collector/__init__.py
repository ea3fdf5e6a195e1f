"""The collector room: OONI's collector protocol on the server side.

``check_open`` and ``prepare`` decide what is accepted (pure); ``Spool`` keeps it
durably for the server's ingest. The web face (``web/collector.py``) adds the HTTP
routes, the size and rate limits.
"""

from voipwatch.collector.protocol import (
    FORMAT,
    REPORT_ID,
    Accepted,
    OpenReport,
    Refusal,
    ReportOpened,
)
from voipwatch.collector.spool import ReportState, Spool
from voipwatch.collector.validate import SCRUBBED_IP, Prepared, check_open, new_report_id, prepare

__all__ = [
    "FORMAT",
    "REPORT_ID",
    "SCRUBBED_IP",
    "Accepted",
    "OpenReport",
    "Prepared",
    "Refusal",
    "ReportOpened",
    "ReportState",
    "Spool",
    "check_open",
    "new_report_id",
    "prepare",
]
