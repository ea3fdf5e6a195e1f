"""Query parameters of the API, declared once with their limits.

Every value is bounded in length and, where its form is known, matched against a
pattern before any code sees it; the store then receives it only as a bound
parameter. Comma lists (OONI's convention) are capped at :data:`MAX_LIST` items by
the length limits.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from fastapi import Query

from voipwatch.store import Axis

MAX_LIST: Final = 50

_CODE = r"[A-Za-z]{2}"
_ASN = r"(?:[Aa][Ss])?[0-9]{1,10}"
_NAME = r"[a-z0-9_]{1,64}"
_ROLE = r"[a-z0-9_]{1,40}(?:/[a-z0-9_*]{1,40})?"
_TECH = r"[a-z0-9_]{1,40}(?:\.[a-z0-9_]{1,40}){0,3}"
_WHEN = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)


def _list(item: str) -> str:
    return rf"^{item}(?:,{item}){{0,{MAX_LIST - 1}}}$"


Grain = Literal["hour", "day", "week", "month", "year", "auto"]
Format = Literal["JSON", "CSV", "json", "csv"]

AxisX = Annotated[Axis | None, Query(description="Column axis (OONI's axis_x, plus ours).")]
AxisY = Annotated[Axis | None, Query(description="Row axis (OONI's axis_y, plus ours).")]
TimeGrain = Annotated[Grain, Query(description="Bucket of measurement_start_day.")]
Since = Annotated[
    str | None,
    Query(max_length=40, pattern=f"^{_WHEN}$", description="Start (inclusive), YYYY-MM-DD."),
]
Until = Annotated[
    str | None,
    Query(max_length=40, pattern=f"^{_WHEN}$", description="End (exclusive), YYYY-MM-DD."),
]
ProbeCC = Annotated[
    str | None,
    Query(max_length=3 * MAX_LIST, pattern=_list(_CODE), description="Country codes, comma list."),
]
ProbeASN = Annotated[
    str | None,
    Query(max_length=13 * MAX_LIST, pattern=_list(_ASN), description="Networks: AS1234 or 1234."),
]
TestName = Annotated[
    str | None,
    Query(max_length=65 * MAX_LIST, pattern=_list(_NAME), description="OONI test names."),
]
Input = Annotated[str | None, Query(max_length=2048, description="Exact OONI input (a URL).")]
Domain = Annotated[
    str | None,
    Query(
        max_length=4096,
        pattern=_list(r"[A-Za-z0-9.\-\[\]:]{1,253}"),
        description="Host names of the input URL, comma list.",
    ),
]
Service = Annotated[
    str | None,
    Query(max_length=65 * MAX_LIST, pattern=_list(_NAME), description="App ids (whatsapp, ...)."),
]
Role = Annotated[
    str | None,
    Query(max_length=82 * MAX_LIST, pattern=_list(_ROLE), description="Roles (telegram/dc, ...)."),
]
Plane = Annotated[
    str | None,
    Query(
        max_length=40,
        pattern=_list("(?:signalling|media|web|circumvention)"),
        description="Planes.",
    ),
]
Technique = Annotated[
    str | None,
    Query(
        max_length=100 * MAX_LIST,
        pattern=_list(_TECH),
        description="Techniques; a prefix (dns) matches its refinements (dns.nxdomain).",
    ),
]
CategoryCode = Annotated[
    str | None,
    Query(
        max_length=20,
        pattern=r"^[A-Z]{1,20}$",
        description="Accepted for OONI compatibility; voipwatch has no categories (400 if set).",
    ),
]
OutFormat = Annotated[Format, Query(description="JSON (default) or CSV.")]
Download = Annotated[bool, Query(description="Send as an attachment (Content-Disposition).")]
Status = Annotated[
    str | None,
    Query(
        max_length=60,
        pattern=_list("(?:ok|anomaly|confirmed|failure)"),
        description="Measurement statuses.",
    ),
]
VerdictStatus = Annotated[
    str | None,
    Query(
        max_length=80,
        pattern=_list("(?:ok|blocked|partial|degraded|down|failure|unknown)"),
        description="Measurements with a role verdict of these statuses.",
    ),
]
ReportId = Annotated[
    str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9._-]{1,200}$", description="Report id.")
]
Order = Annotated[Literal["asc", "desc"], Query(description="By measurement_start_time.")]
Offset = Annotated[int, Query(ge=0, le=100_000, description="Rows to skip.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page (at most 1000).")]
Flag = Annotated[bool | None, Query(description="OONI's tri-state filter.")]
Days = Annotated[
    int, Query(ge=1, le=366, description="Window ending at the newest measurement, in days.")
]
