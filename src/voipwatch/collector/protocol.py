"""OONI's collector protocol, the parts voipwatch speaks (ooni/spec
``backends/bk-003-collector.md``):

* ``POST /report`` with the report's metadata opens a report: ``{"report_id": ...,
  "backend_version": ..., "supported_formats": ["json"]}``;
* ``POST /report/{report_id}`` with ``{"format": "json", "content": {measurement}}``
  submits one measurement: ``{"measurement_uid": ...}``;
* ``POST /report/{report_id}/close`` closes it: ``{}``.

A refusal is ``{"error": reason, "code": name}`` with a 4xx status.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

#: The only submission format (OONI dropped YAML long ago).
FORMAT: Final = "json"
#: A report id as this collector makes them, and as OONI's look.
REPORT_ID: Final = re.compile(
    r"^[0-9]{8}T[0-9]{6}Z_[A-Za-z0-9]{1,40}_[A-Z]{2}_[0-9]{1,10}_n1_[A-Za-z0-9]{16}$"
)


class OpenReport(msgspec.Struct, frozen=True):
    """The body of ``POST /report``."""

    test_name: str
    probe_cc: str = "ZZ"
    probe_asn: str = "AS0"
    software_name: str = ""
    software_version: str = ""
    test_version: str = ""
    test_start_time: str = ""
    data_format_version: str = "0.2.0"
    format: str = FORMAT


class ReportOpened(msgspec.Struct, frozen=True):
    report_id: str
    backend_version: str
    supported_formats: list[str]


class Accepted(msgspec.Struct, frozen=True):
    measurement_uid: str


class Refusal(msgspec.Struct, frozen=True):
    error: str
    code: str
