"""Countries and services as the sources spell them, mapped to voipwatch's names.

Pure lookups over ``data/names.toml`` and the ISO 3166 tables of pycountry: a country
name or code becomes its alpha-2 code, a source's free text ("Facebook Messenger,
WhatsApp web interface", "Blocking of Whatsapp/Telegram") becomes catalogue service ids
plus the other platforms it names.
"""

from __future__ import annotations

import importlib.resources
import re
from functools import cache

import msgspec

from voipwatch.catalog import load as load_catalog

#: Pseudo-apps, not catalogue services: the calls of every app (a VoIP ban), and
#: messaging apps a source blocks without naming them.
VOIP = "voip"
MESSAGING = "messaging"
PSEUDO_APPS = (VOIP, MESSAGING)


class _AppNames(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    phrases: list[str] = []
    exact: list[str] = []


class _Names(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: str
    apps: dict[str, _AppNames]
    services: dict[str, list[str]]
    countries: dict[str, str]


@cache
def _names() -> _Names:
    ref = importlib.resources.files("voipwatch.cases") / "data" / "names.toml"
    return msgspec.toml.decode(ref.read_bytes(), type=_Names)


@cache
def _phrase_patterns() -> list[tuple[re.Pattern[str], str, bool]]:
    """(pattern, name, is_app), longest phrase first so "facebook messenger" beats
    "facebook" and "imo messenger" beats "messenger"."""
    names = _names()
    items: list[tuple[str, str, bool]] = []
    for app, a in names.apps.items():
        items.extend((p, app, True) for p in a.phrases)
    for svc, phrases in names.services.items():
        # One-letter names ("x") only count as whole items.
        items.extend((p, svc, False) for p in phrases if len(p) > 2)
    items.sort(key=lambda i: -len(i[0]))
    return [
        (re.compile(r"(?<![a-z0-9])" + re.escape(p) + r"(?![a-z0-9])"), name, is_app)
        for p, name, is_app in items
    ]


@cache
def _exact() -> dict[str, tuple[str, bool]]:
    names = _names()
    out: dict[str, tuple[str, bool]] = {}
    for svc, phrases in names.services.items():
        out.update({p: (svc, False) for p in phrases})
    for app, a in names.apps.items():
        out.update({p: (app, True) for p in (*a.phrases, *a.exact)})
    return out


def app_ids() -> frozenset[str]:
    """Catalogue service ids a case may name."""
    return frozenset(load_catalog().services)


def app_for(name: str) -> str | None:
    """The catalogue id (or ``voip``) for one app name or id, None when unknown."""
    key = name.strip().lower()
    if key in app_ids() or key in PSEUDO_APPS:
        return key
    for sid, service in load_catalog().services.items():
        if service.name.lower() == key:
            return sid
    hit = _exact().get(key)
    return hit[0] if hit and hit[1] else None


_ITEM_SPLIT = re.compile(r"[,;/+()\"“”]|\band\b|&|\n")
_ITEM_PREFIX = re.compile(r"^(?:blocking|throttling|blocked)(?: of)?(?: the)?\s+")


def services_in(text: str) -> tuple[list[str], list[str]]:
    """The apps (catalogue ids, maybe ``voip``) and other platforms named in ``text``."""
    low = text.lower()
    apps: dict[str, None] = {}
    others: dict[str, None] = {}
    rest = low
    for pattern, name, is_app in _phrase_patterns():
        if pattern.search(rest):
            (apps if is_app else others)[name] = None
            rest = pattern.sub(" ", rest)
    exact = _exact()
    for raw in _ITEM_SPLIT.split(rest):
        item = _ITEM_PREFIX.sub("", raw.strip()).strip(" .")
        hit = exact.get(item)
        if hit is not None:
            (apps if hit[1] else others)[hit[0]] = None
    return sorted(apps), sorted(others)


def split_apps(named: list[str]) -> tuple[list[str], str | None]:
    """Catalogue apps, and the pseudo-app that stands for the unnamed ones (VoIP first)."""
    apps = sorted(set(named) - set(PSEUDO_APPS))
    unnamed = next((p for p in PSEUDO_APPS if p in named), None)
    return apps, unnamed


def country_code(name: str) -> str | None:
    """ISO 3166 alpha-2 code of a country name or code, None when it names none."""
    import pycountry

    key = name.strip()
    if not key:
        return None
    alias = _names().countries.get(key.lower())
    if alias:
        return alias
    for candidate in (key, re.sub(r"\s*\(.*\)\s*$", "", key)):
        try:
            found = pycountry.countries.lookup(candidate)
        except LookupError:
            continue
        return str(found.alpha_2)
    return None
