"""Counts shaped like OONI's ``GET /api/v1/aggregation``, over the store.

The response reproduces OONI's (ooni/backend ``routers/v1/aggregation.py``)::

    {"v": 0, "dimension_count": 1,
     "db_stats": {"row_count": …, "bytes": 0, "total_row_count": …, "elapsed_seconds": …},
     "result": [{"anomaly_count": 3, "confirmed_count": 0, "failure_count": 1,
                 "ok_count": 40, "measurement_count": 44,
                 "measurement_start_day": "2026-10-01"}]}

``result`` is one object when no axis is given and a list otherwise, ordered by the
axes. ``measurement_start_day`` is ``%Y-%m-%d`` (``%Y-%m-%dT%H:%M:%SZ`` for the hour
grain; weeks start on Sunday, as ClickHouse's ``toStartOfWeek``); ``probe_asn`` is an
int. The four status counts are mutually exclusive and sum to ``measurement_count``;
measurements the rules do not judge (status ``unsupported``) are not counted.

What OONI cannot give: when an axis or filter names ``service``, ``role``, ``plane``
or ``technique``, the counting moves to role verdicts (one per measurement × service
role) and each row carries ``ok_count, blocked_count, partial_count, degraded_count,
down_count, failure_count, unknown_count`` (summing to ``verdict_count``) and
``measurement_count``, the number of distinct measurements behind them.

This module only builds and runs parameterised SQL and shapes rows: the command line
and the web API both call :func:`parse_query` and :func:`aggregate`. User values are
always bound as parameters; only our own column expressions are spelled into SQL.
"""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal, get_args

import duckdb

from voipwatch.errors import UsageError
from voipwatch.untrusted import csv_cell

#: An axis of the aggregation: OONI's six, then the four of role verdicts. Declared
#: once, here; the API's parameter type is this one.
Axis = Literal[
    "measurement_start_day",
    "probe_cc",
    "probe_asn",
    "test_name",
    "input",
    "domain",
    "service",
    "role",
    "plane",
    "technique",
]
AXES: Final[tuple[str, ...]] = get_args(Axis)
ROLE_AXES: Final = ("service", "role", "plane", "technique")
TIME_GRAINS: Final = ("hour", "day", "week", "month", "year", "auto")

MEASUREMENT_STATUSES: Final = ("anomaly", "confirmed", "failure", "ok")
MEASUREMENT_COUNTS: Final = (
    "anomaly_count",
    "confirmed_count",
    "failure_count",
    "ok_count",
    "measurement_count",
)
ROLE_STATUSES: Final = ("ok", "blocked", "partial", "degraded", "down", "failure", "unknown")
ROLE_COUNTS: Final = (
    *(f"{s}_count" for s in ROLE_STATUSES),
    "verdict_count",
    "measurement_count",
)

_T: Final = "m.measurement_start_time"
# OONI's ``domain`` is the host of the input URL.
_DOMAIN: Final = (
    "nullif(lower(regexp_extract(m.input, "
    "'^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\\[[^]]*\\]|[^/:?#]+)', 1)), '')"
)
_GRAIN_SQL: Final = {
    "hour": f"date_trunc('hour', {_T})",
    "day": f"date_trunc('day', {_T})",
    # Sunday-based weeks, like ClickHouse's toStartOfWeek (mode 0) behind OONI's API.
    "week": f"date_trunc('week', {_T} + INTERVAL 1 DAY) - INTERVAL 1 DAY",
    "month": f"date_trunc('month', {_T})",
    "year": f"date_trunc('year', {_T})",
}
_AXIS_SQL: Final = {
    "probe_cc": "m.probe_cc",
    "probe_asn": "TRY_CAST(substr(m.probe_asn, 3) AS BIGINT)",
    "test_name": "m.test_name",
    "input": "m.input",
    "domain": _DOMAIN,
    "service": "v.service",
    "role": "v.role",
    "plane": "v.plane",
    "technique": "v.technique",
}
# OONI's rule (``_resolve_time_grain``): the grains allowed for a time range, the first
# being what ``auto`` picks. ``year`` is in OONI's list but missing from its SQL map;
# here it works.
_GRAIN_RANGES: Final = (
    (7, ("hour", "day")),
    (30, ("day", "week")),
    (365, ("day", "week", "month")),
    (None, ("day", "week", "month", "year")),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class AggregateQuery:
    """A validated aggregation request (see :func:`parse_query`)."""

    axis_x: str | None = None
    axis_y: str | None = None
    time_grain: str = "auto"
    since: datetime | None = None
    until: datetime | None = None
    probe_cc: tuple[str, ...] = ()
    probe_asn: tuple[int, ...] = ()
    test_name: tuple[str, ...] = ()
    input: tuple[str, ...] = ()
    domain: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    role: tuple[str, ...] = ()
    plane: tuple[str, ...] = ()
    technique: tuple[str, ...] = ()

    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(a for a in (self.axis_x, self.axis_y) if a)

    @property
    def role_level(self) -> bool:
        """Whether counting is per role verdict rather than per measurement."""
        filters = (self.service, self.role, self.plane, self.technique)
        return any(a in ROLE_AXES for a in self.axes) or any(filters)


def _split(value: str | None) -> list[str]:
    if not value:
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_when(name: str, value: str | None) -> datetime | None:
    """A date (``YYYY-MM-DD``) or date-time; aware values are converted to UTC."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day)
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{name}: not a date: {value!r} (expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ss)"
        ) from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def parse_asn(value: str) -> int:
    """``AS30722``, ``as30722`` or ``30722`` → 30722."""
    text = value.strip()
    digits = text[2:] if text[:2].upper() == "AS" else text
    if not digits.isdigit():
        raise UsageError(f"probe_asn: not an AS number: {value!r} (expected AS1234 or 1234)")
    return int(digits)


def _axis(name: str, value: str | None) -> str | None:
    if not value:
        return None
    if value not in AXES:
        raise UsageError(f"{name}: unknown axis {value!r}; choose from {', '.join(AXES)}")
    return value


def parse_query(
    *,
    axis_x: str | None = None,
    axis_y: str | None = None,
    time_grain: str | None = "auto",
    since: str | None = None,
    until: str | None = None,
    probe_cc: str | None = None,
    probe_asn: str | None = None,
    test_name: str | None = None,
    input: str | None = None,
    domain: str | None = None,
    service: str | None = None,
    role: str | None = None,
    plane: str | None = None,
    technique: str | None = None,
) -> AggregateQuery:
    """Validate request values as OONI's API takes them (comma lists as strings).

    Raises :class:`~voipwatch.errors.UsageError` with a message naming the field.
    """
    x, y = _axis("axis_x", axis_x), _axis("axis_y", axis_y)
    if x is not None and x == y:
        raise UsageError("axis_x and axis_y cannot be the same")
    grain = (time_grain or "auto").lower()
    if grain not in TIME_GRAINS:
        raise UsageError(f"time_grain: {time_grain!r} is not one of {', '.join(TIME_GRAINS)}")
    t0, t1 = parse_when("since", since), parse_when("until", until)
    if t0 is not None and t1 is not None and t1 <= t0:
        raise UsageError(f"until ({until}) must be after since ({since})")
    ccs = [c.upper() for c in _split(probe_cc)]
    for c in ccs:
        if not re.fullmatch(r"[A-Z]{2}", c):
            raise UsageError(f"probe_cc: {c!r} is not a two-letter country code")
    tests = _split(test_name)
    for t in tests:
        if not re.fullmatch(r"[a-z0-9_]+", t):
            raise UsageError(f"test_name: {t!r} is not an OONI test name")
    return AggregateQuery(
        axis_x=x,
        axis_y=y,
        time_grain=grain,
        since=t0,
        until=t1,
        probe_cc=tuple(ccs),
        probe_asn=tuple(parse_asn(a) for a in _split(probe_asn)),
        test_name=tuple(tests),
        input=(input,) if input else (),
        domain=tuple(d.lower() for d in _split(domain)),
        service=tuple(_split(service)),
        role=tuple(_split(role)),
        plane=tuple(_split(plane)),
        technique=tuple(_split(technique)),
    )


def _in(expr: str, values: tuple[Any, ...], params: list[Any]) -> str:
    params.extend(values)
    return f"{expr} IN ({', '.join('?' for _ in values)})"


def measurement_conditions(q: AggregateQuery, params: list[Any]) -> list[str]:
    """The conditions of ``q`` on ``measurements AS m``; their parameters go to ``params``."""
    # Listing the judged statuses (rather than excluding 'unsupported') is what keeps
    # the counts summing to measurement_count whatever else a status may hold.
    where = [_in("m.status", MEASUREMENT_STATUSES, params)]
    if q.since is not None:
        where.append(f"{_T} >= ?")
        params.append(q.since)
    if q.until is not None:
        where.append(f"{_T} < ?")
        params.append(q.until)
    if q.probe_cc:
        where.append(_in("m.probe_cc", q.probe_cc, params))
    if q.probe_asn:
        where.append(_in("m.probe_asn", tuple(f"AS{a}" for a in q.probe_asn), params))
    if q.test_name:
        where.append(_in("m.test_name", q.test_name, params))
    if q.input:
        where.append(_in("m.input", q.input, params))
    if q.domain:
        where.append(_in(_DOMAIN, q.domain, params))
    return where


def role_conditions(q: AggregateQuery, params: list[Any]) -> list[str]:
    """The conditions of ``q`` on role verdicts (``verdicts AS v``); their parameters
    go to ``params``."""
    where: list[str] = []
    for column in ("service", "role", "plane"):
        values: tuple[str, ...] = getattr(q, column)
        if values:
            where.append(_in(f"v.{column}", values, params))
    if q.technique:
        # A technique matches itself and its dotted refinements: "dns" matches "dns.nxdomain".
        alts = []
        for t in q.technique:
            alts.append("(v.technique = ? OR starts_with(v.technique, ?))")
            params.extend((t, f"{t}."))
        where.append("(" + " OR ".join(alts) + ")")
    return where


def _from_where(q: AggregateQuery) -> tuple[str, list[str], list[Any]]:
    """The FROM clause, WHERE conditions and their parameters of ``q``."""
    params: list[Any] = []
    if q.role_level:
        source = "verdicts AS v JOIN measurements AS m ON m.key = v.key"
        where = [_in("v.status", ROLE_STATUSES, params)]
    else:
        source = "measurements AS m"
        where = []
    where += measurement_conditions(q, params)
    where += role_conditions(q, params)
    return source, where, params


def resolve_time_grain(grain: str, since: datetime | None, until: datetime | None) -> str:
    """OONI's rule: the allowed grains depend on the length of the time range."""
    if since is None or until is None:
        return "day" if grain == "auto" else grain
    span = until - since
    for days, allowed in _GRAIN_RANGES:
        if days is not None and span > timedelta(days=days):
            continue
        if grain == "auto":
            return allowed[0]
        if grain not in allowed:
            what = f"{span.days} days" if span >= timedelta(days=1) else "less than a day"
            raise UsageError(
                f"time_grain: choose from {', '.join((*allowed, 'auto'))} for a range of {what}"
            )
        return grain
    raise AssertionError("unreachable: the last range is unbounded")


def _data_range(
    con: duckdb.DuckDBPyConnection, q: AggregateQuery
) -> tuple[datetime | None, datetime | None]:
    """The range the request covers: its bounds, or the data's where it gives none."""
    if q.since is not None and q.until is not None:
        return q.since, q.until
    source, where, params = _from_where(q)
    row = con.execute(
        f"SELECT min({_T}), max({_T}) FROM {source} WHERE {' AND '.join(where)}", params
    ).fetchone()
    lo, hi = (row[0], row[1]) if row else (None, None)
    since = q.since if q.since is not None else lo
    until = q.until if q.until is not None else (hi + timedelta(seconds=1) if hi else None)
    return since, until


def build_sql(q: AggregateQuery, grain: str = "day") -> tuple[str, list[Any], list[str]]:
    """The query for ``q``: SQL text, its parameters, and the output column names."""
    source, where, params = _from_where(q)
    if q.role_level:
        counts = [f"count(*) FILTER (WHERE v.status = '{s}') AS {s}_count" for s in ROLE_STATUSES]
        counts += ["count(*) AS verdict_count", "count(DISTINCT v.key) AS measurement_count"]
        names = list(ROLE_COUNTS)
    else:
        counts = [
            f"count(*) FILTER (WHERE m.status = '{s}') AS {s}_count" for s in MEASUREMENT_STATUSES
        ]
        counts.append("count(*) AS measurement_count")
        names = list(MEASUREMENT_COUNTS)
    axes = []
    for axis in q.axes:
        if axis == "measurement_start_day":
            fmt = "%Y-%m-%dT%H:%M:%SZ" if grain == "hour" else "%Y-%m-%d"
            axes.append(f"strftime({_GRAIN_SQL[grain]}, '{fmt}') AS {axis}")
        else:
            axes.append(f"{_AXIS_SQL[axis]} AS {axis}")
    sql = f"SELECT {', '.join(counts + axes)} FROM {source} WHERE {' AND '.join(where)}"
    if axes:
        order = ", ".join(f"{a} NULLS LAST" for a in q.axes)
        sql += f" GROUP BY {', '.join(q.axes)} ORDER BY {order}"
    assert names + list(q.axes) == result_columns(q)
    return sql, params, result_columns(q)


def aggregate(con: duckdb.DuckDBPyConnection, q: AggregateQuery) -> dict[str, Any]:
    """Run ``q`` and return the OONI-shaped response object.

    ``db_stats`` mirrors OONI's: ``row_count`` is the rows counted (measurements, or
    role verdicts), ``total_row_count`` the rows of the table counted from, ``bytes``
    is not measured (0).
    """
    started = time.perf_counter()
    grain = "day"
    if "measurement_start_day" in q.axes:
        since, until = _data_range(con, q)
        grain = resolve_time_grain(q.time_grain, since, until)
    sql, params, names = build_sql(q, grain)
    rows = [dict(zip(names, r, strict=True)) for r in con.execute(sql, params).fetchall()]
    table = "verdicts" if q.role_level else "measurements"
    total = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    counted = "verdict_count" if q.role_level else "measurement_count"
    result: list[dict[str, Any]] | dict[str, Any] = rows if q.axes else rows[0]
    return {
        "v": 0,
        "dimension_count": len(q.axes),
        "db_stats": {
            "row_count": sum(int(r[counted]) for r in rows),
            "bytes": 0,
            "total_row_count": int(total[0]) if total else 0,
            "elapsed_seconds": round(time.perf_counter() - started, 6),
        },
        "result": result,
    }


def result_columns(q: AggregateQuery) -> list[str]:
    """The keys of each result row of ``q``, in output order (counts, then axes)."""
    counts = ROLE_COUNTS if q.role_level else MEASUREMENT_COUNTS
    return [*counts, *q.axes]


def to_csv(response: dict[str, Any], q: AggregateQuery) -> str:
    """The ``result`` of a response as CSV: a header row, then one row per result."""
    result = response["result"]
    rows: list[dict[str, Any]] = result if isinstance(result, list) else [result]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=result_columns(q), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()
