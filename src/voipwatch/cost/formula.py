"""The cost of blocking an app: a transparent accounting model with low / central / high.

    cost = daily GDP × tier rate × app weight × share affected × days

* **daily GDP**: the country's GDP (current US$, World Bank) for the block's year ÷ 365.
* **tier rate**: Deloitte's (2016) loss per day of a *total* Internet shutdown — 1.9 %,
  1.0 % or 0.4 % of daily GDP for high, medium and low connectivity; the tier comes
  from the share of Internet users (cut-offs are a flagged assumption).
* **app weight**: the part of that loss an app carries, ``k × reach``. ``reach`` is
  the share of adults who use the app (survey figures in ``data/model.toml``); ``k``
  is the value of an app that every adult uses, fixed once so that the model
  reproduces one published app-level cost (Brookings, WhatsApp in Brazil, May 2016),
  computed with this same table. Calls-only blocks multiply by a flagged share.
* **share affected**: 1 for a national block; the supplied market shares of the
  blocked networks; or a flagged proxy.

The full-shutdown figure (weight 1) is the upper bound. Third-party figures
(Top10VPN) are listed beside the estimate as contested comparisons, never mixed in.
Everything here is pure: the table and parameters come in, the estimate goes out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import msgspec
import msgspec.structs

from voipwatch.cost.indicators import Figure, Table
from voipwatch.cost.params import APP_ALIASES, SOCIAL, TIER_ORDER, Band, Params
from voipwatch.errors import UsageError

FORMULA = (
    "cost = daily GDP (annual GDP in current US$ / 365) x Deloitte's loss rate for a full "
    "Internet shutdown in the country's connectivity tier x app weight (k, the value of an "
    "app every adult uses, x the app's reach among adults) x share of the country affected x "
    "duration in days (hours / 24). Low and high use the low and high app weight and share; "
    "the upper bound is the same block priced as a full Internet shutdown (app weight 1)."
)

COMPARISON_NOTE = (
    "Top10VPN's published total for this country and year (all shutdowns it counted that "
    "year, not necessarily this block); a contested third-party figure whose formula is not "
    "public, shown for comparison and never part of voipwatch's estimate."
)


TRANSCRIBED = "country row as transcribed in Muhanad-husn/The-global-cost-of-internet-shutdowns"


class Input(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One input of the estimate: its value, where it comes from and which year it is."""

    value: float | str
    source: str
    year: int | None = None
    url: str = ""
    low: float | None = None
    high: float | None = None
    unit: str = ""
    #: voipwatch's own assumption: no year, its reasoning in ``note``.
    assumption: bool = False
    #: Computed from other inputs or from the block itself: no source of its own.
    derived: bool = False
    note: str = ""


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    publisher: str
    title: str
    url: str
    country: str
    area: str
    year: int
    cost_usd: float
    duration_hours: float | None
    users_affected: float | None
    note: str = COMPARISON_NOTE


class CostEstimate(msgspec.Struct, frozen=True, kw_only=True):
    country: str
    country_name: str
    app: str
    start: str
    hours: float
    scope: str  # "national" or "networks"
    networks: list[int]
    low: float
    central: float
    high: float
    currency: str
    upper_bound_full_shutdown: float
    people_affected: float | None
    formula: str
    inputs: dict[str, Input]
    comparisons: list[Comparison]
    flags: list[str]

    def to_dict(self) -> dict[str, object]:
        result: dict[str, object] = msgspec.to_builtins(self)
        return result


class ThirdParty(msgspec.Struct, frozen=True):
    iso2: str
    area: str
    year: int
    cost_usd: float
    duration_hours: float | None
    users_affected: float | None


def union(costs: list[float], bound: float) -> float:
    """Several apps blocked at once: the union of their shares of ``bound`` (a full
    shutdown of the same area and time).

    Each app's share is the part of the country it cuts off; people who use several of
    the apps lose them together, so the shares combine as 1 − Π(1 − share), which stays
    below a full shutdown unless one of the apps is a full shutdown itself.
    """
    if bound <= 0:
        return 0.0
    kept = 1.0
    for c in costs:
        kept *= 1.0 - min(1.0, c / bound)
    return bound * (1.0 - kept)


#: A range wider than this (high / low) says why in the estimate's flags.
WIDE = 10.0


def wide_range(spread: float, inputs: dict[str, Input]) -> str:
    """Why an estimate's high is more than :data:`WIDE` times its low: its wide inputs."""
    wide = [
        f"{name.replace('_', ' ')} {i.low:.3g}–{i.high:.3g}"
        + (" (assumed: no survey or study narrows it)" if i.assumption else "")
        for name, i in inputs.items()
        if i.low is not None and i.high is not None and i.low > 0 and i.high / i.low >= 2
    ]
    return (
        f"the range spans {spread:.0f}x (high / low) because its inputs do: "
        + "; ".join(wide)
        + "; read the central figure as an order of magnitude"
    )


def normalise_app(app: str, params: Params) -> str:
    a = app.strip().lower().replace("-", "_").replace(" ", "_")
    a = APP_ALIASES.get(a, a)
    if a not in params.apps:
        known = ", ".join(sorted(params.apps))
        raise UsageError(f"unknown app {app!r}: one of {known}")
    return a


def _input(fig: Figure, unit: str, note: str = "") -> Input:
    return Input(
        value=fig.value,
        source=fig.source.title,
        url=fig.source.url,
        year=fig.year,
        unit=unit,
        note=note,
    )


def _assumed(band: Band) -> Input:
    """One of voipwatch's own assumptions, as the estimate shows it: its range, no
    year, and its reasoning where a figure would give its source's year."""
    return Input(
        value=band.central,
        low=band.low,
        high=band.high,
        source=band.source,
        assumption=True,
        note=band.reasoning,
    )


def _required(table: Table, iso3: str, indicator: str, year: int, cc: str) -> Figure:
    fig = table.figure(iso3, indicator, year)
    if fig is None:
        raise UsageError(
            f"no {indicator} figure for {cc} in the indicator table; "
            "run `voipwatch data refresh` when online"
        )
    return fig


def anchor_k(table: Table, params: Params) -> tuple[float, float, float, dict[str, Input]]:
    """k (low, central, high): the value of an app every adult uses, from the anchor.

    The anchor country's tier is itself an assumption (Deloitte's cut-offs are not
    public), so low and high re-price the anchor one tier up and one tier down.
    """
    a = params.anchor
    country = table.country(a.country)
    gdp = _required(table, country.iso3, "gdp_usd", a.year, a.country)
    inet = _required(table, country.iso3, "internet_users_pct", a.year, a.country)
    reach = params.reach_for(a.app, country.iso2)
    if reach is None:
        raise UsageError(f"model.toml: no reach figure for the anchor app {a.app!r}")
    tier = params.tier(inet.value)
    i = TIER_ORDER.index(tier)

    def k_at(t: str) -> float:
        full = gdp.value / 365 * params.deloitte.rates[t] * a.days * reach.value
        return min(1.0, a.cost_usd / full)

    central = k_at(tier)
    low = k_at(TIER_ORDER[min(i + 1, 2)])
    high = k_at(TIER_ORDER[max(i - 1, 0)])
    note = (
        f"k = {a.cost_usd:,.0f} / (GDP {gdp.year} / 365 x {params.deloitte.rates[tier]:.3f} "
        f"({tier} tier, {inet.value:.1f}% Internet users in {inet.year}) x {a.days:g} day x "
        f"reach {reach.value:.2f}); low and high re-price the anchor one tier up and down"
    )
    inputs = {
        "k": Input(
            value=central, low=low, high=high, source=a.title, url=a.url, year=a.year, note=note
        ),
        "anchor_gdp_usd": _input(gdp, "US$", f"GDP of {a.country} for the anchor"),
        "anchor_internet_users_pct": _input(inet, "%", f"Internet users in {a.country}"),
        "anchor_reach": Input(
            value=reach.value, source=reach.title, url=reach.url, year=reach.year
        ),
    }
    return low, central, high, inputs


def network_share(
    networks: list[int] | None,
    shares: dict[int, float] | None,
    measured_networks: int | None,
    params: Params,
) -> tuple[float, float, float, Input, list[str]]:
    """(low, central, high) share of the country affected, its input and any flags."""
    if not networks:
        return (
            1.0,
            1.0,
            1.0,
            Input(value=1.0, source="national block: the whole country", derived=True),
            [],
        )
    shares = shares or {}
    bad = {asn: s for asn, s in shares.items() if not (0.0 <= s <= 1.0) or math.isnan(s)}
    if bad:
        raise UsageError(f"network shares must be between 0 and 1: {bad}")
    if all(asn in shares for asn in networks):
        a = min(1.0, sum(shares[asn] for asn in networks))
        listed = ", ".join(f"AS{asn} {shares[asn]:.0%}" for asn in networks)
        return a, a, a, Input(value=a, source=f"market shares supplied by the user ({listed})"), []
    p = params.network_proxy
    known = sum(shares.get(asn, 0.0) for asn in networks)
    unknown = [asn for asn in networks if asn not in shares]
    market = max(measured_networks or 0, p.min_operators, len(networks))
    proxy = min(1.0, known + len(unknown) / market)
    low, high = (
        min(1.0, known + len(unknown) / market / 2),
        min(1.0, known + 2 * len(unknown) / market),
    )
    note = (
        f"{len(unknown)} network(s) without a market share taken as equal parts of a market "
        f"of {market} operators; low half that, high twice: {p.reasoning}"
    )
    missing = ", ".join(f"AS{asn}" for asn in unknown)
    flag = f"share affected is a proxy: no market share supplied for {missing}"
    return (
        low,
        proxy,
        high,
        Input(value=proxy, low=low, high=high, source=p.source, assumption=True, note=note),
        [flag],
    )


@dataclass(frozen=True, kw_only=True)
class PricedBlock:
    """What is priced: ``app`` blocked in ``probe_cc`` from ``start`` for ``hours``.

    ``networks`` (ASNs) limits the block to those networks, priced by their
    ``network_shares`` or a proxy market of ``measured_networks`` operators;
    ``calls_only``: calls blocked, messages not; ``throttled``: the app was slowed,
    not cut.
    """

    probe_cc: str
    app: str
    start: date
    hours: float
    networks: list[int] | None = None
    network_shares: dict[int, float] | None = None
    measured_networks: int | None = None
    calls_only: bool = False
    throttled: bool = False


#: (low, central, high)
Range = tuple[float, float, float]


def compute(
    table: Table,
    params: Params,
    third_party: list[ThirdParty],
    block: PricedBlock,
    *,
    today: date,
) -> CostEstimate:
    """The estimate for one block (pure: everything it reads is passed in)."""
    _check_period(block.hours, block.start, today)
    country = table.country(block.probe_cc)
    app_id = normalise_app(block.app, params)
    calls_only = block.calls_only
    if app_id == "internet" and calls_only:
        app_id = "voip"  # calls of every app blocked, the rest of the Internet working
    if app_id == "voip":
        calls_only = True
    year = block.start.year
    flags: list[str] = []

    gdp = _required(table, country.iso3, "gdp_usd", year, country.iso2)
    inet = table.figure(country.iso3, "internet_users_pct", year)
    pop = table.figure(country.iso3, "population", year)
    mobile = table.figure(country.iso3, "mobile_subs_per_100", year)
    for fig in (gdp, inet, pop):
        if fig is not None and fig.year != year:
            flags.append(f"{fig.indicator} for {year} not in the table: {fig.year} used")

    inputs: dict[str, Input] = {"gdp_usd": _input(gdp, "US$ (current)")}
    rate = _tier_rate(params, inet, country.iso2, inputs, flags)
    if app_id == "internet":
        weight: Range = (1.0, 1.0, 1.0)
        inputs["app_weight"] = Input(
            value=1.0, source="a full Internet shutdown: weight 1 by definition", derived=True
        )
    else:
        weight = _app_weight(
            table, params, app_id, country.iso2, calls_only, block.throttled, inputs, flags
        )

    a_low, a_central, a_high, a_input, a_flags = network_share(
        block.networks, block.network_shares, block.measured_networks, params
    )
    inputs["share_affected"] = a_input
    flags.extend(a_flags)
    days = block.hours / 24
    inputs["duration_days"] = Input(
        value=days, source="the block's duration (hours / 24)", derived=True
    )

    base = gdp.value / 365 * rate * days
    people = None
    if pop is not None:
        inputs["population"] = _input(pop, "people", "for people affected only")
        if inet is not None:
            people = pop.value * inet.value / 100 * a_central
    if mobile is not None:
        inputs["mobile_subs_per_100"] = _input(
            mobile, "per 100 people", "context; not in the formula"
        )

    w_low, w_central, w_high = weight
    low, central, high = base * w_low * a_low, base * w_central * a_central, base * w_high * a_high
    if low > 0 and high / low > WIDE:
        flags.append(wide_range(high / low, inputs))
    return CostEstimate(
        country=country.iso2,
        country_name=country.name,
        app=app_id,
        start=block.start.isoformat(),
        hours=float(block.hours),
        scope="networks" if block.networks else "national",
        networks=list(block.networks or []),
        low=low,
        central=central,
        high=high,
        currency="USD",
        upper_bound_full_shutdown=base * a_high,
        people_affected=people,
        formula=FORMULA,
        inputs=inputs,
        comparisons=comparisons(third_party, country.iso2, year),
        flags=flags,
    )


def _check_period(hours: float, start: date, today: date) -> None:
    if not isinstance(hours, int | float) or math.isnan(hours) or math.isinf(hours):
        raise UsageError(f"hours must be a number, not {hours!r}")
    if hours < 0:
        raise UsageError(f"hours must not be negative (got {hours:g})")
    if start > today:
        raise UsageError(
            f"start date {start.isoformat()} is in the future (today is {today.isoformat()})"
        )


def _tier_rate(
    params: Params, inet: Figure | None, iso2: str, inputs: dict[str, Input], flags: list[str]
) -> float:
    """Deloitte's loss rate of a full shutdown in the country's connectivity tier (the
    tier and the rate are added to ``inputs``)."""
    if inet is None:
        tier = "medium"
        flags.append(f"no Internet-users figure for {iso2}: medium connectivity tier assumed")
    else:
        tier = params.tier(inet.value)
        inputs["internet_users_pct"] = _input(inet, "% of population", "sets the connectivity tier")
    rate = params.deloitte.rates[tier]
    t = params.tiers
    inputs["tier"] = Input(
        value=tier,
        source=t.source,
        assumption=True,
        note=f"high from {t.high_from_pct:g}% Internet users, medium from "
        f"{t.medium_from_pct:g}%: {t.reasoning}",
    )
    inputs["tier_rate"] = Input(
        value=rate,
        source=params.deloitte.title,
        url=params.deloitte.url,
        year=params.deloitte.year,
        unit="share of daily GDP lost per day of full shutdown",
    )
    return rate


def _app_weight(
    table: Table,
    params: Params,
    app_id: str,
    iso2: str,
    calls_only: bool,
    throttled: bool,
    inputs: dict[str, Input],
    flags: list[str],
) -> Range:
    """The part of a full shutdown's loss the app carries: k x reach x value share."""
    k_low, k_central, k_high, k_inputs = anchor_k(table, params)
    inputs.update(k_inputs)
    r_low, r_central, r_high = _reach(params, app_id, iso2, inputs, flags)
    if app_id in SOCIAL:
        flags.append(
            f"{params.apps[app_id]} is a social platform, not a messenger: "
            "k, anchored on a messenger, is extrapolated"
        )
    c_low, c_central, c_high = _value_share(params, calls_only, throttled, inputs, flags)
    w_low = min(1.0, k_low * r_low * c_low)
    w_central = min(1.0, k_central * r_central * c_central)
    w_high = min(1.0, k_high * r_high * c_high)
    inputs["app_weight"] = Input(
        value=w_central,
        low=w_low,
        high=w_high,
        source="k x reach"
        + (" x calls share" if calls_only else "")
        + (" x throttled share" if throttled else ""),
        derived=True,
    )
    return w_low, w_central, w_high


def _reach(
    params: Params, app_id: str, iso2: str, inputs: dict[str, Input], flags: list[str]
) -> Range:
    """The share of adults who use the app: a survey's figure, else a wide assumption."""
    reach = params.reach_for(app_id, iso2)
    if app_id == "voip":
        # Calls of every app: bounded by the most used messenger's users.
        reach = params.widest_reach(iso2)
    if reach is None:
        d = params.default_reach
        inputs["reach"] = _assumed(d)
        flags.append(f"no survey of {params.apps[app_id]}'s reach: a wide assumed range is used")
        return d.low, d.central, d.high
    note = "" if reach.country else "multi-country median: no figure for this country"
    inputs["reach"] = Input(
        value=reach.value, source=reach.title, url=reach.url, year=reach.year, note=note
    )
    if not reach.country:
        flags.append(f"reach of {params.apps[app_id]} is a multi-country median, not {iso2}'s own")
    return reach.value, reach.value, reach.value


def _value_share(
    params: Params, calls_only: bool, throttled: bool, inputs: dict[str, Input], flags: list[str]
) -> Range:
    """The share of the app's value the block takes: its calls, the part needing bandwidth."""
    c_low = c_central = c_high = 1.0
    if calls_only:
        c = params.calls_only
        c_low, c_central, c_high = c.low, c.central, c.high
        inputs["calls_share"] = _assumed(c)
        flags.append("calls only: the share of an app's value carried by calls is assumed")
    if throttled:
        t_band = params.throttled
        c_low, c_central, c_high = (
            c_low * t_band.low,
            c_central * t_band.central,
            c_high * t_band.high,
        )
        inputs["throttled_share"] = _assumed(t_band)
        flags.append(
            "throttled, not blocked: priced as the share of the app's value that needs "
            "bandwidth, an assumption"
        )
    return c_low, c_central, c_high


def comparisons(third_party: list[ThirdParty], iso2: str, year: int) -> list[Comparison]:
    """Top10VPN's figures for the country and year, shown beside the estimate."""
    return [
        Comparison(
            publisher="Top10VPN",
            title=f"Top10VPN, The Cost of Internet Shutdowns {tp.year} ({TRANSCRIBED})",
            url=f"https://www.top10vpn.com/research/cost-of-internet-shutdowns/{tp.year}/",
            country=tp.iso2,
            area=tp.area,
            year=tp.year,
            cost_usd=tp.cost_usd,
            duration_hours=tp.duration_hours,
            users_affected=tp.users_affected,
        )
        for tp in third_party
        if tp.iso2 == iso2 and tp.year == year
    ]
