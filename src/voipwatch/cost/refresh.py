"""``voipwatch data refresh``: newer indicator figures from the World Bank API (v2 JSON).

For each indicator it asks ``{endpoint}/country/all/indicator/{code}?format=json``
for the years since the shipped table's first year, page by page (a bounded number
of pages), and checks every page before keeping anything. Only when every indicator
has been read and checked is the overlay file replaced, atomically (a temporary file
renamed over it): a malformed response, a server error or a timeout leaves the
previous overlay exactly as it was.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from voipwatch.cost.derive import FIRST_YEAR, round_value
from voipwatch.cost.indicators import Overlay, Source, shipped_countries
from voipwatch.durable import write_durably
from voipwatch.errors import InputError

DEFAULT_ENDPOINT = "https://api.worldbank.org/v2"
ENDPOINT_ENV = "VOIPWATCH_WORLDBANK_API"

#: voipwatch indicator → World Bank indicator code
CODES = {
    "gdp_usd": "NY.GDP.MKTP.CD",
    "population": "SP.POP.TOTL",
    "internet_users_pct": "IT.NET.USER.ZS",
    "mobile_subs_per_100": "IT.CEL.SETS.P2",
}
MAX_PAGES = 50
PER_PAGE = 20000

Fetch = Callable[[str], bytes]


def default_endpoint() -> str:
    return os.environ.get(ENDPOINT_ENV, DEFAULT_ENDPOINT)


def http_fetch(timeout: float = 30.0) -> Fetch:
    def fetch(url: str) -> bytes:
        req = urllib.request.Request(url, headers={"User-Agent": "voipwatch data refresh"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                body: bytes = resp.read()
                return body
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the open response
            raise InputError(f"HTTP {exc.code} {exc.reason}", source=url) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise InputError(f"cannot reach the World Bank API ({reason})", source=url) from None

    return fetch


def parse_page(body: bytes, url: str, iso3s: set[str]) -> tuple[int, list[tuple[str, int, float]]]:
    """(number of pages, [(iso3, year, value)]) from one API response; InputError if odd.

    The v2 format is a two-element array: a header object (``page``, ``pages``, ...) and
    the records; an error is a one-element array holding ``{"message": [...]}``.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not JSON ({exc})", source=url) from None
    if isinstance(doc, list) and len(doc) == 1 and isinstance(doc[0], dict):
        msgs = doc[0].get("message")
        if isinstance(msgs, list) and msgs:
            first = msgs[0] if isinstance(msgs[0], dict) else {}
            raise InputError(
                f"the API answered with an error: {first.get('value') or first.get('key') or msgs}",
                source=url,
            )
    if not (isinstance(doc, list) and len(doc) == 2 and isinstance(doc[0], dict)):
        raise InputError("not a World Bank v2 response ([header, records] expected)", source=url)
    header, records = doc
    pages = header.get("pages")
    if not isinstance(pages, int) or pages < 0:
        raise InputError(f"header has no page count: {header!r}"[:200], source=url)
    if records is None:
        return pages, []
    if not isinstance(records, list):
        raise InputError("records are not a list", source=url)
    out = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InputError(f"record {i} is not an object", source=url)
        iso3, year, value = rec.get("countryiso3code"), rec.get("date"), rec.get("value")
        if not isinstance(iso3, str) or not isinstance(year, str) or not year.isdigit():
            raise InputError(f"record {i} has no country code or year: {rec!r}"[:200], source=url)
        if value is None or iso3 not in iso3s:  # no figure yet, or an aggregate region
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InputError(f"record {i} ({iso3} {year}) has a bad value {value!r}", source=url)
        out.append((iso3, int(year), float(value)))
    return pages, out


def fetch_indicator(
    fetch: Fetch, endpoint: str, code: str, iso3s: set[str], to_year: int
) -> list[tuple[str, int, float]]:
    rows: list[tuple[str, int, float]] = []
    page, pages = 1, 1
    while page <= pages:
        if page > MAX_PAGES:
            raise InputError(f"more than {MAX_PAGES} pages for {code}; refusing", source=endpoint)
        url = (
            f"{endpoint.rstrip('/')}/country/all/indicator/{code}"
            f"?format=json&per_page={PER_PAGE}&date={FIRST_YEAR}:{to_year}&page={page}"
        )
        pages, got = parse_page(fetch(url), url, iso3s)
        rows.extend(got)
        page += 1
    return rows


def refresh(
    out: Path,
    *,
    endpoint: str | None = None,
    fetch: Fetch | None = None,
    now: datetime | None = None,
    on_progress: Callable[[str], None] = lambda _: None,
) -> dict[str, int]:
    """Fetch every indicator, then write the overlay atomically; figures per indicator."""
    endpoint = endpoint or default_endpoint()
    fetch = fetch or http_fetch()
    now = now or datetime.now(UTC)
    iso3s = {c.iso3 for c in shipped_countries()}
    fetched = now.date().isoformat()
    sources: dict[str, Source] = {}
    figures: list[tuple[str, str, int, float, str]] = []
    counts: dict[str, int] = {}
    for indicator, code in CODES.items():
        on_progress(code)
        rows = fetch_indicator(fetch, endpoint, code, iso3s, now.year)
        sid = f"wb-api-{code}"
        sources[sid] = Source(
            id=sid,
            title=f"World Bank, World Development Indicators API: {code} (fetched {fetched})",
            url=f"https://data.worldbank.org/indicator/{code}",
            licence="CC BY 4.0",
            via=endpoint,
        )
        for iso3, year, value in rows:
            figures.append((iso3, indicator, year, float(round_value(indicator, value)), sid))
        counts[indicator] = len(rows)
    overlay = Overlay(fetched=fetched, endpoint=endpoint, sources=sources, figures=sorted(figures))
    write_atomic(out, msgspec.json.encode(overlay))
    return counts


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once: readers see the old file or the new."""
    write_durably(path, data)
