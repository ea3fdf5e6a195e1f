"""The cost model's parameters (``data/model.toml``), each with its source, or, for
voipwatch's own assumptions, its reasoning."""

from __future__ import annotations

from functools import cache
from importlib import resources

import msgspec

#: Platforms that are not messengers: priced with a messenger's k, and flagged for it.
SOCIAL = frozenset({"facebook", "instagram", "x", "tiktok", "youtube"})


class Deloitte(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    title: str
    url: str
    year: int
    rates: dict[str, float]
    also: str = ""


class Tiers(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    source: str
    reasoning: str
    high_from_pct: float
    medium_from_pct: float


class Anchor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    title: str
    url: str
    country: str
    app: str
    start: str
    days: float
    cost_usd: float
    year: int
    also: str = ""


class Reach(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    app: str
    country: str  # "" for a multi-country figure
    value: float
    title: str
    url: str
    year: int


class Band(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    source: str
    reasoning: str
    low: float
    central: float
    high: float


class NetworkProxy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    source: str
    reasoning: str
    min_operators: int


class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: str
    deloitte: Deloitte
    tiers: Tiers
    anchor: Anchor
    reach: list[Reach]
    default_reach: Band
    calls_only: Band
    throttled: Band
    network_proxy: NetworkProxy
    apps: dict[str, str]

    def tier(self, internet_pct: float) -> str:
        if internet_pct >= self.tiers.high_from_pct:
            return "high"
        if internet_pct >= self.tiers.medium_from_pct:
            return "medium"
        return "low"

    def reach_for(self, app: str, iso2: str) -> Reach | None:
        """The survey figure for this app: the country's own, else the multi-country one."""
        own = [r for r in self.reach if r.app == app and r.country == iso2]
        general = [r for r in self.reach if r.app == app and not r.country]
        found = own or general
        return found[0] if found else None

    def widest_reach(self, iso2: str) -> Reach | None:
        """The surveyed messenger with the most users here (its own figure first)."""
        apps = {r.app for r in self.reach} - SOCIAL
        found = [r for r in (self.reach_for(a, iso2) for a in apps) if r is not None]
        return max(found, key=lambda r: (r.value, r.app), default=None)


#: Tiers in order of rising loss rate, to step one tier up or down.
TIER_ORDER = ("low", "medium", "high")

#: Other names people and OONI use for the apps of the service catalogue.
APP_ALIASES = {
    "facebook_messenger": "messenger",
    "teams": "skype",
    "microsoft_teams": "skype",
    "twitter": "x",
    "full": "internet",
    "shutdown": "internet",
}


@cache
def load_params() -> Params:
    text = resources.files("voipwatch.cost").joinpath("data", "model.toml").read_bytes()
    return msgspec.toml.decode(text, type=Params)
