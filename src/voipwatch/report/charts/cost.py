"""What a block costs: each estimate's range, its central value and the upper bound."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from voipwatch.report.charts.base import COLOURS, frame, money


def cost_values(estimates: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One value per estimate: ``label``, ``low``, ``central``, ``high``, ``currency``,
    and ``upper_bound`` (the full-shutdown figure) when the estimate has one."""
    values = []
    for e in estimates:
        central, currency = float(e["central"]), str(e.get("currency") or "USD")
        value: dict[str, Any] = {
            "label": str(e.get("label") or e.get("app") or "estimate"),
            "low": float(e["low"]),
            "central": central,
            "high": float(e["high"]),
            "currency": currency,
            "central_label": money(central, currency),
        }
        bound = e.get("upper_bound_full_shutdown", e.get("upper_bound"))
        if bound is not None:
            value["upper_bound"] = float(bound)
        values.append(value)
    return values


def cost_range(
    estimates: Iterable[Mapping[str, Any]],
    *,
    title: str,
    source: str,
    as_of: date | datetime | str | None = None,
    note: str | None = None,
    width: int = 480,
) -> dict[str, Any]:
    """Each estimate as its low–high range with the central value marked.

    The full-shutdown upper bound, when given, is a separate grey tick: what a whole
    Internet shutdown of the same length would cost, never part of the estimate.
    """
    values = cost_values(estimates)
    currency = values[0]["currency"] if values else "USD"
    bounded = any("upper_bound" in v for v in values)
    title_x = f"{currency}: bar low – high, dot central" + (
        ", grey tick a full shutdown of the same length" if bounded else ""
    )
    x: dict[str, Any] = {
        "type": "quantitative",
        "title": title_x,
        "axis": {
            "labelExpr": "replace(format(datum.value, '~s'), 'G', 'B')",
            "labelOverlap": "greedy",
            "tickCount": 6,
        },
    }
    # Estimates that differ by orders of magnitude share a log axis, so each stays legible.
    amounts = [a for v in values for a in (v["low"], v.get("upper_bound", v["high"])) if a > 0]
    if amounts and max(amounts) / min(amounts) > 100:
        x["scale"] = {"type": "log"}
        x["title"] += " (log scale)"
    tooltip = [{"field": "label", "type": "nominal"}] + [
        {"field": f, "type": "quantitative", "format": ",.0f"} for f in ("low", "central", "high")
    ]
    layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "rule", "strokeWidth": 6, "color": "#ffa8a8"},
            "encoding": {"x": {"field": "low", **x}, "x2": {"field": "high"}, "tooltip": tooltip},
        },
        {
            "mark": {"type": "point", "filled": True, "size": 90, "color": COLOURS["confirmed"]},
            "encoding": {"x": {"field": "central", **x}, "tooltip": tooltip},
        },
        {
            "mark": {"type": "text", "dy": -12, "fontSize": 10, "color": "#212529"},
            "encoding": {
                "x": {"field": "central", **x},
                "text": {"field": "central_label", "type": "nominal"},
            },
        },
    ]
    if bounded:
        layers.append(
            {
                "transform": [{"filter": "isValid(datum.upper_bound)"}],
                "mark": {"type": "tick", "color": "#868e96", "thickness": 2},
                "encoding": {
                    "x": {"field": "upper_bound", **x},
                    "tooltip": [
                        {
                            "field": "upper_bound",
                            "type": "quantitative",
                            "format": ",.0f",
                            "title": "full-shutdown upper bound",
                        }
                    ],
                },
            }
        )
    body: dict[str, Any] = {
        "data": {"values": values},
        "width": width,
        "height": {"step": 34},
        "encoding": {
            "y": {
                "field": "label",
                "type": "nominal",
                "title": None,
                "sort": None,
                "axis": {"labelLimit": 320},
            }
        },
        "layer": layers,
    }
    return frame(
        body,
        kind="cost",
        title=title,
        source=source,
        as_of=as_of,
        note=note,
        description=f"{title}: low, central and high estimates.",
    )
