"""IP-to-country/network databases: MaxMind-format files, and the bundled default.

The bundled default is geoip2fast's own data file (from MaxMind GeoLite2): country
and network *name*, but no AS number, so ``probe_asn`` stays ``AS0`` unless a
MaxMind-format database (GeoLite2-ASN, DB-IP, IPinfo, OONI's probe-assets) is
configured. Configured databases come first; the bundled one fills what they lack.

Not even ``geoip2fast-asn.dat.gz``, the file used here, holds AS numbers, despite
its name: geoip2fast's builder (``geoip2dat``) numbers networks by their AS *name*
and drops GeoLite2's ``autonomous_system_number`` column, so the file's list of
69,661 names (IPv4; 72,293 with IPv6) maps to no number, and names shared by several
ASes (``China Unicom``) are one entry. Loading it takes about 0.4 s and 75 MiB, once,
at the first lookup.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Final, Protocol

import geoip2fast
import maxminddb
import platformdirs
from geoip2fast import GeoIP2Fast

from voipwatch.errors import LocationDbError
from voipwatch.locate.model import UNKNOWN, UNKNOWN_ASN, UNKNOWN_CC, Location, cc_text
from voipwatch.locate.records import country_of, network_of

#: Where ``voipwatch locate refresh`` puts databases by default; every ``*.mmdb``
#: here is used by the probe.
ENV: Final = "VOIPWATCH_LOCATION_DB"
BUNDLED_NAME: Final = "geoip2fast (bundled GeoLite2 country and network names)"


def default_dir() -> Path:
    return Path(platformdirs.user_data_dir("voipwatch")) / "location"


class Locator(Protocol):
    name: str

    def lookup(self, ip: str) -> Location: ...


class MaxMindDb:
    """One MaxMind-format file (country, ASN, or both in one record)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise LocationDbError(str(path), str(exc) or type(exc).__name__) from None

    def lookup(self, ip: str) -> Location:
        try:
            record = self._reader.get(ip)
        except (ValueError, maxminddb.InvalidDatabaseError):
            return UNKNOWN
        if not isinstance(record, Mapping):
            return UNKNOWN
        asn, name = network_of(record)
        return Location(country_of(record), asn, name, self.name)

    def close(self) -> None:
        self._reader.close()


class Bundled:
    """geoip2fast's shipped data: country code and network name, no AS number."""

    name = BUNDLED_NAME

    def lookup(self, ip: str) -> Location:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return UNKNOWN
        found = _bundled().lookup(ip)
        cc = cc_text(getattr(found, "country_code", None))
        raw_name = getattr(found, "asn_name", None)
        name = raw_name.strip() if isinstance(raw_name, str) and raw_name.strip() else None
        if getattr(found, "is_private", False):
            return UNKNOWN
        return Location(cc, UNKNOWN_ASN, name, self.name)


@cache
def _bundled() -> GeoIP2Fast:
    # The country+network-name file; loading takes a fraction of a second, once.
    data = Path(geoip2fast.__file__).with_name("geoip2fast-asn.dat.gz")
    return GeoIP2Fast(geoip2fast_data_file=str(data), verbose=False)


class Chain:
    """Databases asked in order; each field comes from the first that knows it."""

    def __init__(self, locators: Sequence[Locator]) -> None:
        self.locators = list(locators)
        self.name = " + ".join(loc.name for loc in self.locators) or "none"

    def lookup(self, ip: str) -> Location:
        cc, asn, name, used = UNKNOWN_CC, UNKNOWN_ASN, None, []
        for loc in self.locators:
            found = loc.lookup(ip)
            took = False
            if cc == UNKNOWN_CC and found.probe_cc != UNKNOWN_CC:
                cc, took = found.probe_cc, True
            if asn == UNKNOWN_ASN and found.probe_asn != UNKNOWN_ASN:
                asn, took = found.probe_asn, True
            if name is None and found.probe_network_name:
                name, took = found.probe_network_name, True
            if took:
                used.append(found.source)
        if not used:
            return UNKNOWN
        return Location(cc, asn, name, " + ".join(used))


def configured_paths(given: Iterable[str], env: Mapping[str, str]) -> list[Path]:
    """The databases to use: ``given`` (config, command line), else ``$VOIPWATCH_LOCATION_DB``
    (paths separated by ``os.pathsep``), else every ``*.mmdb`` in :func:`default_dir`."""
    paths = [Path(p) for p in given if p]
    if not paths:
        paths = [Path(p) for p in env.get(ENV, "").split(os.pathsep) if p]
    if not paths and default_dir().is_dir():
        paths = sorted(default_dir().glob("*.mmdb"))
    return paths


def open_locator(paths: Sequence[Path], *, bundled: bool = True) -> Chain:
    """The chain of the MaxMind-format files at ``paths`` (raises
    :class:`~voipwatch.errors.LocationDbError` for one that cannot be read), then the
    bundled database unless ``bundled`` is false."""
    locators: list[Locator] = [MaxMindDb(p) for p in paths]
    if bundled:
        locators.append(Bundled())
    return Chain(locators)
