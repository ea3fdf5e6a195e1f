"""The validation table: generated from its data, and kept apart from calibration."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from voipwatch.cost import estimate
from voipwatch.cost.formula import CostEstimate
from voipwatch.cost.params import load_params
from voipwatch.cost.validation import (
    Result,
    calibration_figures,
    compare,
    load_validation,
    table,
)

README = Path(__file__).resolve().parents[3] / "README.md"


def _price(cc: str, app: str, start: date, hours: float) -> CostEstimate:
    return estimate(cc, app, start, hours, today=start)


def _results() -> list[Result]:
    return [compare(c, _price) for c in load_validation().comparison]


def test_the_readme_table_is_the_one_the_data_gives() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- validation:start -->\n", 1)[1].split("<!-- validation:end -->", 1)[0]
    results = _results()
    assert block == table(results, load_validation(), load_params())
    for r in results:
        print(f"{r.comparison.id}: ratio {r.ratio:.2f}")


def test_no_compared_figure_is_one_the_model_is_calibrated_on() -> None:
    params = load_params()
    anchor = params.anchor
    calibration_urls = {url for _, url in calibration_figures(params)}
    assert anchor.url in calibration_urls
    assert params.deloitte.url in calibration_urls
    for c in load_validation().comparison:
        assert c.url not in calibration_urls, c.id
        assert not (
            c.country == anchor.country
            and anchor.app in c.apps
            and c.start == date.fromisoformat(anchor.start)
        ), c.id
        assert c.published != anchor.cost_usd, c.id
    # The anchor is named among the figures looked at and left out, and why.
    assert any("calibration" in x.why for x in load_validation().left_out)


def test_every_ratio_outside_the_goal_is_explained() -> None:
    v = load_validation()
    results = _results()
    assert len(results) >= 6
    assert {c.publisher for c in v.comparison} >= {"Top10VPN", "NetBlocks", "Brookings"}
    for r in results:
        c = r.comparison
        assert c.url.startswith("https://"), c.id
        assert r.low <= r.central <= r.high, c.id
        if not v.goal_low <= r.ratio <= v.goal_high:
            assert len(c.why) > 80, c.id
    # The Brazil Telegram block, the classic check, stays within the goal.
    (br,) = [r for r in results if r.comparison.id == "top10vpn-br-telegram-2023"]
    assert 0.5 <= br.ratio <= 2.0


def test_a_share_comparison_needs_no_exchange_rate() -> None:
    (five,) = [c for c in load_validation().comparison if c.id == "netblocks-ng-five-2021-share"]
    r = compare(five, _price)
    assert five.kind == "share"
    assert 0 < r.low <= r.central <= r.high < 1  # a share of a full shutdown, never all of it
