"""The locate room: where a probe is (country, network), never who it is.

``locate(locator, helper_url=..., stun_address=...)`` learns the public address
from the test helper, looks it up and drops it; ``open_locator(paths)`` reads
MaxMind-format databases (GeoLite2, DB-IP, IPinfo, OONI's probe-assets) with the
bundled geoip2fast data behind them; ``refresh(url, dest)`` replaces a database
atomically; ``write_test_db`` writes a small database for simulated worlds.
"""

from voipwatch.locate.databases import (
    ENV,
    Bundled,
    Chain,
    Locator,
    MaxMindDb,
    configured_paths,
    default_dir,
    open_locator,
)
from voipwatch.locate.discover import locate
from voipwatch.locate.model import UNKNOWN, UNKNOWN_ASN, UNKNOWN_CC, Location, asn_text, cc_text
from voipwatch.locate.refresh import refresh
from voipwatch.locate.testdb import Mapping, write_test_db
from voipwatch.locate.where import describe, where

__all__ = [
    "ENV",
    "UNKNOWN",
    "UNKNOWN_ASN",
    "UNKNOWN_CC",
    "Bundled",
    "Chain",
    "Location",
    "Locator",
    "Mapping",
    "MaxMindDb",
    "asn_text",
    "cc_text",
    "configured_paths",
    "default_dir",
    "describe",
    "locate",
    "open_locator",
    "refresh",
    "where",
    "write_test_db",
]
