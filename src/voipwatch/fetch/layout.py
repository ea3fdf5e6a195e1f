"""OONI's bulk bucket layout, and what a fetch asks for: pure, no I/O.

Since 2020-10-20 OONI writes every measurement to the public bucket as
``raw/YYYYMMDD/HH/CC/<testname>/<YYYYMMDDHH>_<CC>_<testname>.<host>.<n>.jsonl.gz``
(hourly JSONL cans), and before that as ``.tar.gz`` postcans under the same
prefixes. ``<testname>`` is the test's name without underscores
(``web_connectivity`` → ``webconnectivity``). A local mirror keeps the same keys
below its root, so a mirror and the bucket can be compared key by key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from voipwatch.errors import InvalidValue, UsageError

#: OONI's test names (as in ``test_name``), the messaging ones first.
TEST_NAMES: Final = (
    "whatsapp",
    "telegram",
    "signal",
    "facebook_messenger",
    "stunreachability",
    "web_connectivity",
    "dnscheck",
    "urlgetter",
    "tor",
    "torsf",
    "vanilla_tor",
    "psiphon",
    "riseupvpn",
    "openvpn",
    "echcheck",
    "http_header_field_manipulation",
    "http_invalid_request_line",
    "ndt",
    "dash",
)
#: What a fetch takes when no test is named: the tests voipwatch judges.
DEFAULT_TESTS: Final = (
    "whatsapp",
    "telegram",
    "signal",
    "facebook_messenger",
    "stunreachability",
)
#: Suffixes of measurement files in the bucket: JSONL cans and older postcans.
SUFFIXES: Final = (".jsonl.gz", ".tar.gz")

_CC: Final = re.compile(r"^[A-Z]{2}$")
_KEY: Final = re.compile(r"^raw/(\d{8})/(\d{2})/([A-Z]{2})/([a-z0-9]+)/[^/]+$")


def bucket_test_name(name: str) -> str:
    """The bucket's spelling of a test name (no underscores)."""
    return name.replace("_", "").lower()


_BY_BUCKET_NAME: Final = {bucket_test_name(t): t for t in TEST_NAMES}
# OONI spells this one both ways.
_BY_BUCKET_NAME["stunreachability"] = "stunreachability"


def api_test_name(bucket_name: str) -> str:
    """The API's spelling of a test name (``webconnectivity`` → ``web_connectivity``)."""
    return _BY_BUCKET_NAME.get(bucket_name, bucket_name)


def parse_tests(text: str | None) -> tuple[str, ...]:
    """``"whatsapp,web_connectivity"`` → bucket names; unknown names are a usage error."""
    if not text:
        return tuple(bucket_test_name(t) for t in DEFAULT_TESTS)
    names: list[str] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        b = bucket_test_name(name)
        if b not in _BY_BUCKET_NAME:
            raise UsageError(
                f"unknown test name {raw.strip()!r}: choose from {', '.join(TEST_NAMES)}"
            )
        if b not in names:
            names.append(b)
    if not names:
        raise InvalidValue("test", "", "names no test")
    return tuple(names)


def parse_countries(text: str | None) -> tuple[str, ...]:
    """``"ir,RU"`` → ``("IR", "RU")``; empty means every country."""
    if not text:
        return ()
    ccs: list[str] = []
    for raw in text.split(","):
        cc = raw.strip().upper()
        if not cc:
            continue
        if not _CC.match(cc):
            raise UsageError(f"not a country code: {raw.strip()!r} (two letters, e.g. IR)")
        if cc not in ccs:
            ccs.append(cc)
    return tuple(ccs)


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from None


def day_range(since: date, until: date | None) -> list[date]:
    """Days from ``since`` up to ``until`` exclusive (default: ``since`` alone)."""
    end = until if until is not None else since + timedelta(days=1)
    if end <= since:
        raise InvalidValue(
            "until",
            end,
            f"{end} is not after the first day {since}: the range is empty (the last day "
            "is exclusive; swap them, or leave the last day out for one day)",
        )
    return [since + timedelta(days=i) for i in range((end - since).days)]


@dataclass(frozen=True, slots=True)
class Selection:
    """Which measurement files a fetch wants."""

    days: tuple[date, ...]
    countries: tuple[str, ...]  # empty: every country
    tests: tuple[str, ...]  # bucket spellings

    def prefixes(self) -> list[str]:
        """Listing prefixes: per day, or per day, hour and country when countries are named.

        A day of the bucket holds every country's and test's files; naming countries
        narrows the listing to them (24 listings per country and day, each small).
        """
        out: list[str] = []
        for d in self.days:
            day = f"raw/{d:%Y%m%d}/"
            if not self.countries:
                out.append(day)
                continue
            out += [f"{day}{h:02d}/{cc}/" for h in range(24) for cc in self.countries]
        return out

    def wants(self, key: str) -> bool:
        """Whether a bucket key is a measurement file of this selection."""
        m = _KEY.match(key)
        if m is None or not key.endswith(SUFFIXES):
            return False
        day, _, cc, test = m.groups()
        if test not in self.tests:
            return False
        if self.countries and cc not in self.countries:
            return False
        return any(day == f"{d:%Y%m%d}" for d in self.days)
