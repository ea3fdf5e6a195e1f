"""Derive the shipped indicator table from World Bank / ITU extracts (run by maintainers).

``python -m voipwatch.cost.derive ECON_DIR GROUND_TRUTH_DIR OUT_DIR`` reads the World Bank GDP,
population and Internet-users files, the ITU mobile-subscription series (Gapminder's
copy) and the ISO country codes, and writes ``countries.csv`` and ``indicators.csv``:
one row per country, indicator and year from :data:`FIRST_YEAR` on, each naming the
source id listed in ``data/sources.toml``. Aggregates (regions, income groups) are
dropped: only codes that ISO 3166 knows are kept. Values are rounded to what the
sources can support, so the table stays small. ``third_party.csv`` holds Top10VPN's
country-year cost figures (hand-transcribed from its annual reports by the
Muhanad-husn/The-global-cost-of-internet-shutdowns repository), shown beside
voipwatch's estimates as contested comparisons.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

FIRST_YEAR = 2014

#: indicator → (file, iso3 column, year column, value column, source id)
FILES: dict[str, tuple[str, str, str, str, str]] = {
    "gdp_usd": (
        "wb_gdp_current_usd_NY.GDP.MKTP.CD.csv",
        "Country Code",
        "Year",
        "Value",
        "wb-gdp",
    ),
    "population": ("wb_population_SP.POP.TOTL.csv", "Country Code", "Year", "Value", "wb-pop"),
    "internet_users_pct": (
        "wb_internet_users_pct_long.csv",
        "Country Code",
        "Year",
        "Value",
        "wb-inet",
    ),
    "mobile_subs_per_100": (
        "gapminder_itu_cell_phones_per_100_people_long.csv",
        "iso3",
        "year",
        "mobile_subs_per_100",
        "itu-mobile",
    ),
}


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def round_value(indicator: str, value: float) -> str:
    """Text form of a figure: whole dollars and people, two decimals for rates."""
    if indicator in ("gdp_usd", "population"):
        return str(round(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def countries(econ_dir: Path) -> list[tuple[str, str, str]]:
    """(iso2, iso3, name) for every ISO 3166 country, sorted by iso2."""
    out = []
    for r in _rows(econ_dir / "country-codes.csv"):
        iso2, iso3 = r["ISO3166-1-Alpha-2"].strip(), r["ISO3166-1-Alpha-3"].strip()
        name = (r["CLDR display name"] or r["official_name_en"]).strip()
        if len(iso2) == 2 and len(iso3) == 3 and name:
            out.append((iso2, iso3, name))
    return sorted(out)


def figures(econ_dir: Path, iso3s: set[str]) -> list[tuple[str, str, int, str, str]]:
    """(iso3, indicator, year, value, source) rows for the known countries."""
    out = []
    for indicator, (name, c_col, y_col, v_col, source) in FILES.items():
        for r in _rows(econ_dir / name):
            iso3, year, value = r[c_col].strip(), r[y_col].strip(), r[v_col].strip()
            if iso3 not in iso3s or not value or not year:
                continue
            y = int(float(year))
            if y < FIRST_YEAR:
                continue
            out.append((iso3, indicator, y, round_value(indicator, float(value)), source))
    return sorted(out)


#: Top10VPN's country names that ISO's display names spell differently; the value is
#: (iso2, area) where area names a region the row covers ("" for the whole country).
TOP10VPN_ALIASES: dict[str, tuple[str, str]] = {
    "congo drc": ("CD", ""),
    "drc": ("CD", ""),
    "republic of congo": ("CG", ""),
    "turkey": ("TR", ""),
    "pakistan - azad kashmir": ("PK", "Azad Kashmir"),
    "somaliland": ("SO", "Somaliland"),
}

TOP10VPN_FILE = "top10vpn_cost_by_country_2019_2025.csv"


def third_party(ground_truth: Path, names: dict[str, str]) -> list[tuple[object, ...]]:
    """Top10VPN's country-year figures: (iso2, area, year, cost_usd, hours, users)."""
    out: list[tuple[object, ...]] = []
    for r in _rows(ground_truth / TOP10VPN_FILE):
        name = r["country"].strip()
        if name == "country":  # a repeated header inside the concatenated file
            continue
        iso2, area = TOP10VPN_ALIASES.get(name.lower(), (names.get(name.lower(), ""), ""))
        if not iso2:
            raise ValueError(f"{TOP10VPN_FILE}: unknown country {name!r}")
        hours = r["duration_hours"].strip()
        users = r["users_affected"].strip()
        out.append(
            (
                iso2,
                area,
                int(r["year"]),
                round(float(r["cost_usd"])),
                f"{float(hours):g}" if hours else "",
                round(float(users)) if users else "",
            )
        )
    return sorted(out, key=lambda t: (str(t[0]), int(str(t[2])), str(t[1])))


def write_csv(path: Path, header: list[str], rows: Iterable[Iterable[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def derive(econ_dir: Path, ground_truth: Path, out_dir: Path) -> tuple[int, int, int]:
    """Write countries.csv, indicators.csv and third_party.csv into ``out_dir``."""
    cs = countries(econ_dir)
    fs = figures(econ_dir, {c[1] for c in cs})
    tp = third_party(ground_truth, {c[2].lower(): c[0] for c in cs})
    write_csv(out_dir / "countries.csv", ["iso2", "iso3", "name"], cs)
    write_csv(out_dir / "indicators.csv", ["iso3", "indicator", "year", "value", "source"], fs)
    header = ["iso2", "area", "year", "cost_usd", "duration_hours", "users_affected"]
    write_csv(out_dir / "third_party.csv", header, tp)
    return len(cs), len(fs), len(tp)


if __name__ == "__main__":  # pragma: no cover - maintainer tool
    n_c, n_f, n_t = derive(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
    print(f"{n_c} countries, {n_f} figures, {n_t} third-party rows")
