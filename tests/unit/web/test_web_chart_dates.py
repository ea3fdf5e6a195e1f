"""A chart's "data as of" is the last day its data shows, never the clock's."""

from __future__ import annotations

from voipwatch.report.charts.base import frame
from voipwatch.web.charts import _as_of


def test_the_date_is_the_last_day_of_the_data() -> None:
    rows = [
        {"measurement_start_day": "2026-10-02"},
        {"measurement_start_day": "2026-10-05"},
        {"measurement_start_day": None},
    ]
    assert _as_of(rows) == "2026-10-05"


def test_a_chart_without_data_has_no_date() -> None:
    assert _as_of([]) is None
    spec = frame(
        {},
        kind="timeline",
        title="t",
        source="voipwatch",
        as_of=_as_of([]),
        note=None,
        description="t",
    )
    assert "as of" not in str(spec)
    assert spec["usermeta"]["voipwatch"]["as_of"] == ""
