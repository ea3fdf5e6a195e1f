"""The model against independent published estimates (``data/validation.toml``).

Each comparison prices the same block (country, apps, onset, hours) with the model and
prints the ratio of voipwatch's central figure to the published one; several apps are
the union of their shares, as a case of several apps is. The calibration figures
(``data/model.toml``) are listed apart and never compared: a figure the model is
fitted to cannot check it. ``python -m voipwatch.cost.validation`` prints the README's
table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import cache
from importlib import resources
from typing import Literal

import msgspec

from voipwatch.cost import estimate
from voipwatch.cost.formula import CostEstimate, union
from voipwatch.cost.params import Params, load_params

__all__ = [
    "Comparison",
    "Result",
    "Validation",
    "calibration_figures",
    "compare",
    "load_validation",
    "table",
]

#: Prices one app: (country, app, onset, hours) → the model's estimate.
Pricer = Callable[[str, str, date, float], CostEstimate]


class Comparison(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    publisher: str
    block: str
    title: str
    url: str
    country: str
    apps: list[str]
    start: date
    hours: float
    kind: Literal["usd", "share"]
    published: float
    why: str


class LeftOut(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    what: str
    why: str


class Validation(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: str
    goal_low: float
    goal_high: float
    comparison: list[Comparison]
    left_out: list[LeftOut]


class Result(msgspec.Struct, frozen=True):
    comparison: Comparison
    low: float
    central: float
    high: float

    @property
    def ratio(self) -> float:
        return self.central / self.comparison.published


@cache
def load_validation() -> Validation:
    text = resources.files("voipwatch.cost").joinpath("data", "validation.toml").read_bytes()
    return msgspec.toml.decode(text, type=Validation)


def compare(c: Comparison, price: Pricer) -> Result:
    """The model's low, central and high for one comparison, in its unit."""
    estimates = [price(c.country, app, c.start, c.hours) for app in c.apps]
    bound = max(e.upper_bound_full_shutdown for e in estimates)
    low, central, high = (
        union([getattr(e, k) for e in estimates], bound) for k in ("low", "central", "high")
    )
    if c.kind == "share":
        low, central, high = low / bound, central / bound, high / bound
    return Result(c, low, central, high)


def calibration_figures(params: Params) -> list[tuple[str, str]]:
    """(what, source URL) of every published figure the model is set from."""
    a = params.anchor
    figures = [
        (
            f"{a.app} blocked in {a.country} from {a.start} for {a.days:g} day: "
            f"US${a.cost_usd:,.0f} (sets k)",
            a.url,
        ),
        (
            "loss per day of a full shutdown, by connectivity tier: "
            + ", ".join(f"{t} {r:.1%}" for t, r in params.deloitte.rates.items()),
            params.deloitte.url,
        ),
    ]
    figures += [
        (f"{r.app} used by {r.value:.0%} of adults ({r.country or 'eight-country median'})", r.url)
        for r in params.reach
    ]
    return figures


def _amount(value: float, kind: str) -> str:
    if kind == "share":
        return f"{value:.1%}"
    for size, word in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g} {word}"
    return f"{value:.3g}"


def table(results: list[Result], validation: Validation, params: Params) -> str:
    """The README's validation section (Markdown), from the data and the model."""
    goal = f"{validation.goal_low:g}–{validation.goal_high:g}×"
    lines = [
        f"| comparison | published | voipwatch low / central / high | ratio | within {goal} |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        c = r.comparison
        unit = "share of a full shutdown" if c.kind == "share" else "USD"
        model = " / ".join(_amount(v, c.kind) for v in (r.low, r.central, r.high))
        inside = validation.goal_low <= r.ratio <= validation.goal_high
        lines.append(
            f"| {c.publisher}: {c.block} ([source]({c.url})) | {_amount(c.published, c.kind)} "
            f"{unit} | {model} | {r.ratio:.2f} | {'yes' if inside else 'no'} |"
        )
    outside = [r for r in results if not validation.goal_low <= r.ratio <= validation.goal_high]
    inside_n = len(results) - len(outside)
    lines += ["", f"{inside_n} of {len(results)} comparisons are within {goal}."]
    if outside:
        lines += ["", "Outside the goal, and why:", ""]
        lines += [
            f"* {r.comparison.publisher}, {r.comparison.block} ({r.ratio:.2f}): {r.comparison.why}."
            for r in outside
        ]
    lines += ["", "Looked at and left out:", ""]
    lines += [f"* {x.what}: {x.why}." for x in validation.left_out]
    lines += [
        "",
        "Calibration figures (the model is set from these; none of them is compared above):",
        "",
    ]
    lines += [f"* {what} — <{url}>" for what, url in calibration_figures(params)]
    return "\n".join(lines) + "\n"


def main() -> None:
    validation = load_validation()
    results = [
        compare(c, lambda cc, app, start, hours: estimate(cc, app, start, hours, today=start))
        for c in validation.comparison
    ]
    print(table(results, validation, load_params()), end="")


if __name__ == "__main__":
    main()
