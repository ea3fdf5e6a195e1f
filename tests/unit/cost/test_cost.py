"""The cost model: bounds, provenance, bad input, events, and the Brazil/Telegram check."""

from __future__ import annotations

from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

import pytest

from voipwatch.cost import cost_for_event, estimate
from voipwatch.cost.derive import derive
from voipwatch.cost.indicators import load_table
from voipwatch.cost.params import load_params
from voipwatch.errors import UsageError
from voipwatch.events.model import Event

TODAY = date(2026, 1, 1)


def test_brazil_telegram_2023_is_within_a_factor_of_two_of_the_published_figure() -> None:
    e = estimate("BR", "telegram", date(2023, 4, 26), 48, today=TODAY)
    published = [c for c in e.comparisons if c.publisher == "Top10VPN"]
    assert len(published) == 1
    assert published[0].cost_usd == 46_200_000
    ratio = e.central / published[0].cost_usd
    print(
        f"BR telegram 48h: central {e.central / 1e6:.1f} M USD, Top10VPN 46.2 M, ratio {ratio:.2f}"
    )
    assert 0.5 <= ratio <= 2.0
    assert e.low <= e.central <= e.high <= e.upper_bound_full_shutdown
    assert e.currency == "USD"
    # the comparison is beside the estimate, never in it
    assert "46200000" not in repr(e.inputs)


def test_the_anchor_is_not_the_case_it_is_checked_against() -> None:
    a = load_params().anchor
    assert (a.country, a.app, a.year) != ("BR", "telegram", 2023)


def test_every_input_names_its_source_and_figures_their_year() -> None:
    e = estimate("PK", "whatsapp", date(2024, 5, 1), 10, today=TODAY)
    for name, i in e.inputs.items():
        assert i.source, name
    for name, i in e.inputs.items():
        # A figure says its year; an assumption or a computed input has none to say.
        assert bool(i.year) != (i.assumption or i.derived), name
    assert e.inputs["tier"].assumption
    assert e.inputs["tier"].year is None
    d = e.to_dict()
    assert {"low", "central", "high", "currency", "formula", "inputs"} <= d.keys()
    # 2024 GDP is not in the table: the latest year is used and said so
    assert any("gdp_usd for 2024" in f for f in e.flags)


@pytest.mark.parametrize("app", sorted(load_params().apps))
def test_bounds_hold_for_every_app_and_country(app: str) -> None:
    table = load_table()
    for iso3 in sorted({k[0] for k in table.series if k[1] == "gdp_usd"})[::7]:
        cc = table.by_iso3[iso3].iso2
        e = estimate(cc, app, date(2022, 3, 1), 30, today=TODAY)
        assert 0 <= e.low <= e.central <= e.high <= e.upper_bound_full_shutdown, (cc, app)


def test_unknown_app_without_a_survey_is_flagged() -> None:
    e = estimate("MA", "viber", date(2020, 1, 1), 24, today=TODAY)
    assert e.inputs["reach"].assumption
    assert any("reach" in f for f in e.flags)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("XX", "telegram", date(2023, 1, 1), 1), "unknown country"),
        (("BR", "myspace", date(2023, 1, 1), 1), "unknown app"),
        (("BR", "telegram", date(2023, 1, 1), -5), "negative"),
        (("BR", "telegram", date(2030, 1, 1), 1), "future"),
        (("BR", "telegram", date(2023, 1, 1), float("nan")), "number"),
    ],
)
def test_bad_input_is_a_clear_usage_error(args: tuple[str, str, date, float], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        estimate(*args, today=TODAY)


def test_network_scope_uses_supplied_shares_else_a_flagged_proxy() -> None:
    national = estimate("BR", "whatsapp", date(2023, 1, 1), 24, today=TODAY)
    shared = estimate(
        "BR",
        "whatsapp",
        date(2023, 1, 1),
        24,
        networks=[1, 2],
        network_shares={1: 0.2, 2: 0.1},
        today=TODAY,
    )
    assert shared.central == pytest.approx(national.central * 0.3)
    assert not shared.flags
    proxy = estimate("BR", "whatsapp", date(2023, 1, 1), 24, networks=[1], today=TODAY)
    assert proxy.inputs["share_affected"].assumption
    assert proxy.central == pytest.approx(national.central / 4)
    assert any("proxy" in f for f in proxy.flags)
    assert proxy.low <= proxy.central <= proxy.high
    with pytest.raises(UsageError, match="between 0 and 1"):
        estimate("BR", "whatsapp", date(2023, 1, 1), 1, networks=[1], network_shares={1: 2.0})


def _event(**kw: object) -> Event:
    base: dict[str, object] = dict(
        event_id="e1",
        kind="block",
        probe_cc="BR",
        asns=[],
        national=True,
        service="telegram",
        roles=["telegram/dc"],
        plane="signalling",
        techniques=["dns.nxdomain"],
        start=datetime(2023, 4, 26, tzinfo=UTC),
        start_earliest=datetime(2023, 4, 26, tzinfo=UTC),
        start_latest=datetime(2023, 4, 26, tzinfo=UTC),
        end=datetime(2023, 4, 28, tzinfo=UTC),
        confidence=0.9,
        measurements=100,
    )
    base.update(kw)
    return Event(**base)  # type: ignore[arg-type]


def test_cost_for_event_national_networks_calls_and_ongoing() -> None:
    national = cost_for_event(_event())
    assert national.scope == "national"
    assert national.hours == 48
    assert national.central == pytest.approx(
        estimate("BR", "telegram", date(2023, 4, 26), 48).central
    )
    nets = cost_for_event(
        _event(national=False, asns=[28573, 26599]), network_shares={28573: 0.3, 26599: 0.25}
    )
    assert nets.scope == "networks"
    assert nets.central == pytest.approx(national.central * 0.55)
    calls = cost_for_event(_event(plane="media"))
    assert calls.central < national.central
    assert "calls_share" in calls.inputs
    ongoing = cost_for_event(_event(end=None, evidence={"last_evidence": "2023-04-27T00:00:00Z"}))
    assert ongoing.hours == 24
    assert any("ongoing: priced so far, to 2023-04-27T00:00+00:00" in f for f in ongoing.flags)
    # An ongoing event stored without its last hour of evidence is priced at nothing,
    # never up to the clock.
    unknown = cost_for_event(_event(end=None))
    assert unknown.hours == 0
    for kind in ("target_change", "outage", "possible_shutdown"):
        with pytest.raises(UsageError, match=f"{kind.replace('_', ' ')}, not a block"):
            cost_for_event(_event(kind=kind))
    tool = _event(service="tor", roles=["tor/obfs4"], plane="circumvention")
    with pytest.raises(UsageError, match=r"circumvention tool \(tor\), not an app"):
        cost_for_event(tool)


def test_a_throttle_is_priced_as_a_flagged_share_of_the_block_never_as_one() -> None:
    block = cost_for_event(_event())
    throttled = cost_for_event(
        _event(kind="throttling", plane="throughput", techniques=["throttle.policed"])
    )
    share = throttled.inputs["throttled_share"]
    assert share.assumption
    assert "no published share" in share.source
    assert (share.low, share.value, share.high) == (0.1, 0.25, 0.6)
    assert throttled.central == pytest.approx(block.central * 0.25)
    assert throttled.low == pytest.approx(block.low * 0.1)
    assert throttled.high == pytest.approx(min(block.high * 0.6, block.upper_bound_full_shutdown))
    assert throttled.upper_bound_full_shutdown == pytest.approx(block.upper_bound_full_shutdown)
    assert any(f.startswith("throttled, not blocked") for f in throttled.flags)
    assert "throttled_share" not in block.inputs


@pytest.mark.shared
def test_shipped_tables_are_exactly_derived_from_the_shared_data(
    shared_dir: Path, tmp_path: Path
) -> None:
    derive(shared_dir / "econ-data", shared_dir / "ground-truth", tmp_path)
    data = resources.files("voipwatch.cost").joinpath("data")
    for name in ("countries.csv", "indicators.csv", "third_party.csv"):
        assert (tmp_path / name).read_text() == data.joinpath(name).read_text(), name


def test_a_voip_ban_of_every_app_is_priced_as_calls_not_as_a_shutdown() -> None:
    ban = estimate("MA", "voip", date(2016, 1, 7), 24, today=TODAY)
    same = estimate("MA", "internet", date(2016, 1, 7), 24, calls_only=True, today=TODAY)
    assert ban.central == same.central
    assert "calls_share" in ban.inputs
    assert ban.inputs["reach"].value == 0.73  # WhatsApp, the widest surveyed reach
    assert ban.low <= ban.central <= ban.high < ban.upper_bound_full_shutdown


def test_social_platforms_are_priced_and_flagged_as_an_extrapolation() -> None:
    e = estimate("PK", "twitter", date(2024, 2, 17), 9423, today=TODAY)
    assert e.app == "x"
    assert any("social platform" in f for f in e.flags)
    assert e.comparisons[0].cost_usd == 1_620_000_000
    assert e.low <= e.central <= e.high


@pytest.mark.parametrize(
    ("cc", "app", "networks"),
    [("MA", "viber", None), ("BR", "voip", None), ("IR", "signal", [44244]), ("IN", "x", None)],
)
def test_every_assumption_gives_its_reasoning_and_no_year(
    cc: str, app: str, networks: list[int] | None
) -> None:
    e = estimate(cc, app, date(2022, 3, 1), 30, networks=networks, today=TODAY)
    assumed = {n: i for n, i in e.inputs.items() if i.assumption}
    assert "tier" in assumed
    for name, i in assumed.items():
        assert i.year is None, name
        assert i.source.startswith("voipwatch assumption"), name
        assert len(i.note) > 60, name  # its reasoning, in words
    for name, i in e.inputs.items():
        if not i.assumption and not i.derived:
            assert i.url or name == "share_affected", name


def test_a_range_wider_than_ten_times_says_why() -> None:
    """Viber in Morocco has no survey: reach is assumed 1–15 %, and k spans a tier."""
    e = estimate("MA", "viber", date(2020, 1, 1), 24, today=TODAY)
    assert e.high / e.low > 10
    (why,) = [f for f in e.flags if f.startswith("the range spans")]
    assert f"{e.high / e.low:.0f}x" in why
    assert "reach 0.01–0.15 (assumed" in why
    # A surveyed app in a surveyed country has a narrower range and no such flag.
    narrow = estimate("BR", "whatsapp", date(2020, 1, 1), 24, today=TODAY)
    assert narrow.high / narrow.low < 10
    assert not [f for f in narrow.flags if f.startswith("the range spans")]
    for params_band in (load_params().default_reach, load_params().calls_only):
        assert params_band.reasoning
