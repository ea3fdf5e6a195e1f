"""Vega-Lite chart specs: rows in, a spec dict out.

The same spec is drawn by the browser on the dashboard (Vega-Lite from bundled
assets) and by :mod:`voipwatch.report.render` on the server for the briefs, so a
chart looks the same wherever it is taken from. Every builder is pure: it reads the
rows it is given and returns a new JSON-ready dict; nothing here touches the store.

Every chart carries where its data comes from and when (``source`` and ``as_of``) in
its subtitle, so a PNG or SVG cut out of a page or a brief still says it, and in
``usermeta.voipwatch`` for code that reads specs. A ``note`` line is for what a reader
must not miss, such as "synthetic data".

Colours follow OONI Explorer's MAT (``components/aggregation/mat/colorMap.js``):
ok green, anomaly yellow, confirmed red, failure grey; ``down`` (the service itself is
down, not blocked) is blue, as OONI colours its "down" outcomes.
"""

from voipwatch.report.charts.base import (
    COLOURS,
    EVENT_COLOURS,
    EVENT_KINDS,
    PLANE_WORDS,
    ROLE_TO_OONI,
    SCHEMA,
    STATE_COLOURS,
    STATES,
    STATUSES,
    money,
)
from voipwatch.report.charts.blocks import blocks_grid, blocks_map
from voipwatch.report.charts.cost import cost_range, cost_values
from voipwatch.report.charts.timelines import (
    event_values,
    events_timeline,
    ooni_counts,
    timeline,
    timeline_values,
)
from voipwatch.report.charts.volume import volume_timeline

__all__ = [
    "COLOURS",
    "EVENT_COLOURS",
    "EVENT_KINDS",
    "PLANE_WORDS",
    "ROLE_TO_OONI",
    "SCHEMA",
    "STATES",
    "STATE_COLOURS",
    "STATUSES",
    "blocks_grid",
    "blocks_map",
    "cost_range",
    "cost_values",
    "event_values",
    "events_timeline",
    "money",
    "ooni_counts",
    "timeline",
    "timeline_values",
    "volume_timeline",
]
