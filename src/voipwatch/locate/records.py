"""Country and network from the records of the common MaxMind-format databases.

Pure: a decoded record in, fields out. Each database names its fields its own way:

* MaxMind GeoLite2-Country/City, DB-IP lite, OONI's probe-assets country database:
  ``{"country": {"iso_code": "IT"}}`` (``registered_country`` as a fallback);
* GeoLite2-ASN, DB-IP ASN lite, OONI's probe-assets ASN database:
  ``{"autonomous_system_number": 30722, "autonomous_system_organization": "..."}``;
* IPinfo lite and country_asn: ``{"country_code": "IT", "asn": "AS30722",
  "as_name": "..."}`` (older files: ``"country"`` as a plain code).
"""

from __future__ import annotations

from collections.abc import Mapping

from voipwatch.locate.model import UNKNOWN_ASN, UNKNOWN_CC, asn_text, cc_text


def _get(record: Mapping[str, object], *path: str) -> object:
    value: object = record
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def country_of(record: Mapping[str, object] | None) -> str:
    """The record's country code, or ``ZZ``."""
    if not record:
        return UNKNOWN_CC
    for path in (("country", "iso_code"), ("registered_country", "iso_code"), ("country_code",)):
        cc = cc_text(_get(record, *path))
        if cc != UNKNOWN_CC:
            return cc
    country = record.get("country")
    return cc_text(country) if isinstance(country, str) else UNKNOWN_CC


def network_of(record: Mapping[str, object] | None) -> tuple[str, str | None]:
    """The record's ``(AS number, network name)``: ``("AS0", None)`` when absent."""
    if not record:
        return UNKNOWN_ASN, None
    asn = asn_text(_get(record, "autonomous_system_number"))
    if asn == UNKNOWN_ASN:
        asn = asn_text(_get(record, "asn"))
    name: object = _get(record, "autonomous_system_organization") or _get(record, "as_name")
    return asn, name.strip() if isinstance(name, str) and name.strip() else None
