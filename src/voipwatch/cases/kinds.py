"""What a case says was blocked, read for pricing: one app, several apps, a platform, the
calls of apps, the whole Internet, or a sale or licence ban.

The stored :data:`~voipwatch.cases.model.CaseKind` is the sources' own filing (STOP's
``shutdown_extent``, OONI's tags, CenAlert's services); this reading adds what the case's
words and named services say, so that a case is priced as what happened and nothing
more: a full shutdown only when the case says the network of the whole country was cut,
several apps as the people who use at least one of them, and a ban on selling or
licensing a platform not at all (the Internet kept working). Pure: a case in, a reading
out.
"""

from __future__ import annotations

import re
from typing import Final, Literal

import msgspec

from voipwatch.cases.model import Case

__all__ = ["PRICED", "PRICED_OTHERS", "Pricing", "Reading", "read_case", "regional"]

#: ``one_app``, ``several_apps``: named messaging or calling apps (and platforms);
#: ``platform``: social platforms only (Facebook, X, ...); ``calls``: the calls of the
#: named apps, or of every app (a VoIP ban), while messages work; ``shutdown``: the
#: network of the whole country cut; ``regional_shutdown``: the network cut in a region;
#: ``slowdown``: the network slowed, no app named; ``sales_ban``: a platform's sale,
#: import, licence or use banned while every network works; ``unnamed``: no app named.
Pricing = Literal[
    "one_app",
    "several_apps",
    "platform",
    "calls",
    "shutdown",
    "regional_shutdown",
    "slowdown",
    "sales_ban",
    "unnamed",
]

#: Readings that the cost model prices; the others say why not.
PRICED: Final[frozenset[Pricing]] = frozenset(
    {"one_app", "several_apps", "platform", "calls", "shutdown"}
)

#: Services outside the catalogue that the cost model has a weight for, by the name
#: the importers give them (``cases/data/names.toml``), mapped to the model's name.
PRICED_OTHERS: Final = {
    "facebook": "facebook",
    "twitter": "x",
    "instagram": "instagram",
    "youtube": "youtube",
    "tiktok": "tiktok",
}

#: Words that say the calls of an app were blocked, not the app: "voice and video calls
#: on WhatsApp", "call features on WhatsApp and Telegram".
_CALLS: Final = re.compile(
    r"\b(?:(?:voice|video)(?: and (?:voice|video))? calls?|call(?:ing)? features?) (?:on|of|in)\b",
    re.IGNORECASE,
)


#: Words a source puts in its area column for the whole country. A merged case joins its
#: records' areas ("Nationwide, National"), so each part is read.
_NATIONAL: Final = frozenset(
    {
        "nationwide",
        "nation wide",
        "national",
        "countrywide",
        "countrywide shutdown",
        "entire country",
        "whole country",
    }
)


def regional(case: Case) -> bool:
    """Whether the case names a region smaller than its country."""
    parts = [p.strip().lower() for p in re.split(r"[,;]", case.region)]
    return any(p and p not in _NATIONAL for p in parts)


class Reading(msgspec.Struct, frozen=True, kw_only=True):
    """How a case is priced: its reading, the model apps to price, and why, in words."""

    pricing: Pricing
    #: Model app names to price (``internet`` for a shutdown, ``voip`` for a VoIP ban).
    apps: list[str] = msgspec.field(default_factory=list)
    #: Services the case names that the model has no weight for.
    unpriced: list[str] = msgspec.field(default_factory=list)
    calls_only: bool = False
    why: str = ""

    @property
    def priced(self) -> bool:
        return self.pricing in PRICED and bool(self.apps)


def _text(case: Case) -> str:
    return " ".join([case.title, *(s.title for s in case.sources)])


def read_case(case: Case) -> Reading:
    """The reading of one case (see :data:`Pricing`), from its kind, services and words."""
    if case.kind == "platform_ban":
        return Reading(
            pricing="sales_ban",
            why="a ban of one access platform (its sale, import, licence or use), not an "
            "outage: the Internet kept working",
        )
    if case.kind == "full_shutdown":
        if regional(case):
            return Reading(
                pricing="regional_shutdown",
                why=f"the network was cut in {case.region}, not in the whole country",
            )
        return Reading(
            pricing="shutdown",
            apps=["internet"],
            why="the sources file it as a shutdown of the whole network, nationwide",
        )
    others = [o for o in case.other_services if o in PRICED_OTHERS]
    unpriced = [o for o in case.other_services if o not in PRICED_OTHERS]
    named = [*case.apps, *(PRICED_OTHERS[o] for o in others)]
    if not named:
        if case.kind == "voip_only":
            return Reading(
                pricing="calls",
                apps=["voip"],
                calls_only=True,
                why="the calls of every app were blocked (a VoIP ban); messages worked",
            )
        if case.kind == "throttling":
            return Reading(
                pricing="slowdown",
                unpriced=unpriced,
                why="the network was slowed, not cut, and no app is named",
            )
        return Reading(pricing="unnamed", unpriced=unpriced, why="the sources name no app")
    listed = ", ".join(named)
    if case.kind == "voip_only" or _CALLS.search(_text(case)):
        return Reading(
            pricing="calls",
            apps=named,
            unpriced=unpriced,
            calls_only=True,
            why=f"the calls of {listed} were blocked, not their messages",
        )
    if not case.apps:
        return Reading(
            pricing="platform",
            apps=named,
            unpriced=unpriced,
            why=f"social platforms only ({listed}), not the Internet",
        )
    several = len(named) > 1
    return Reading(
        pricing="several_apps" if several else "one_app",
        apps=named,
        unpriced=unpriced,
        why=f"{'apps' if several else 'one app'} named: {listed}",
    )
