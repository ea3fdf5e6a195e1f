"""The indicator table: GDP, population, Internet users and mobile subscriptions by
country and year, every figure with its source.

The table shipped in ``data/`` is derived from World Bank and ITU files (see
:mod:`voipwatch.cost.derive` and ``data/sources.toml``); ``voipwatch data refresh``
writes newer World Bank figures to an overlay file (:func:`overlay_path`) that wins
over the shipped figure for the same country, indicator and year.
"""

from __future__ import annotations

import csv
import io
import os
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path

import msgspec

from voipwatch.errors import InputError, UsageError

INDICATORS = ("gdp_usd", "population", "internet_users_pct", "mobile_subs_per_100")
OVERLAY_ENV = "VOIPWATCH_INDICATORS"


class Source(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    title: str
    url: str
    licence: str = ""
    via: str = ""


class Figure(msgspec.Struct, frozen=True, kw_only=True):
    """One figure: ``year`` is the year it measures, which may be earlier than asked."""

    indicator: str
    value: float
    year: int
    source: Source


class Country(msgspec.Struct, frozen=True):
    iso2: str
    iso3: str
    name: str


class Overlay(msgspec.Struct, kw_only=True):
    """What ``voipwatch data refresh`` writes: figures and the sources they name."""

    fetched: str
    endpoint: str
    sources: dict[str, Source]
    figures: list[tuple[str, str, int, float, str]]  # iso3, indicator, year, value, source


class Table:
    """Countries, sources and figures, with lookups by ISO code and year."""

    def __init__(
        self,
        countries: Iterable[Country],
        sources: dict[str, Source],
        figures: Iterable[tuple[str, str, int, float, str]],
    ) -> None:
        self.sources = dict(sources)
        self.by_iso2 = {c.iso2: c for c in countries}
        self.by_iso3 = {c.iso3: c for c in self.by_iso2.values()}
        self.series: dict[tuple[str, str], dict[int, tuple[float, str]]] = {}
        for iso3, indicator, year, value, source in figures:
            self.series.setdefault((iso3, indicator), {})[year] = (value, source)

    def country(self, code: str) -> Country:
        """The country with this ISO 3166 alpha-2 or alpha-3 code (any case)."""
        c = code.strip().upper()
        found = self.by_iso2.get(c) or self.by_iso3.get(c)
        if found is None:
            raise UsageError(f"unknown country {code!r}: give an ISO 3166 code such as BR or BRA")
        return found

    def figure(self, iso3: str, indicator: str, year: int) -> Figure | None:
        """The figure for ``year``, else the latest before it, else the earliest after."""
        series = self.series.get((iso3, indicator))
        if not series:
            return None
        earlier = [y for y in series if y <= year]
        chosen = max(earlier) if earlier else min(series)
        value, source_id = series[chosen]
        source = self.sources.get(source_id) or Source(id=source_id, title=source_id, url="")
        return Figure(indicator=indicator, value=value, year=chosen, source=source)

    def latest_year(self, indicator: str) -> int:
        return max((max(s) for (_, ind), s in self.series.items() if ind == indicator), default=0)


def overlay_path() -> Path:
    """Where refreshed figures live: $VOIPWATCH_INDICATORS, else the user data folder."""
    env = os.environ.get(OVERLAY_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("voipwatch")) / "indicators-refresh.json"


def _data(name: str) -> str:
    return resources.files("voipwatch.cost").joinpath("data", name).read_text(encoding="utf-8")


def shipped_sources() -> dict[str, Source]:
    raw = tomllib.loads(_data("sources.toml"))["sources"]
    return {k: Source(id=k, **v) for k, v in raw.items()}


def shipped_countries() -> list[Country]:
    return [
        Country(r["iso2"], r["iso3"], r["name"])
        for r in csv.DictReader(io.StringIO(_data("countries.csv")))
    ]


def shipped_figures() -> list[tuple[str, str, int, float, str]]:
    rows = csv.DictReader(io.StringIO(_data("indicators.csv")))
    return [
        (r["iso3"], r["indicator"], int(r["year"]), float(r["value"]), r["source"]) for r in rows
    ]


def read_overlay(path: Path) -> Overlay | None:
    """The refresh overlay, or None when there is none; a damaged one is an InputError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(
            f"cannot read refreshed indicators: {exc.strerror or exc}", source=str(path)
        ) from None
    try:
        return msgspec.json.decode(data, type=Overlay)
    except msgspec.DecodeError as exc:
        raise InputError(
            f"damaged refreshed indicators ({exc}); "
            "run `voipwatch data refresh` again or delete the file",
            source=str(path),
        ) from None


def build_table(overlay: Overlay | None) -> Table:
    sources = shipped_sources()
    figures = shipped_figures()
    if overlay is not None:
        sources.update(overlay.sources)
        figures.extend(overlay.figures)  # later rows win in Table's series
    return Table(shipped_countries(), sources, figures)


@cache
def _cached_table(path: str, mtime: float) -> Table:
    return build_table(read_overlay(Path(path)))


def load_table() -> Table:
    """The shipped table with the refresh overlay applied (cached per overlay version)."""
    path = overlay_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return _cached_table(str(path), mtime)
