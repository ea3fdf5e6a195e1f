"""The Atom feed (RFC 4287) of blocking events: one entry when a block is found, one
when it ends.

Pure: events in, feed bytes out. Every date in the feed comes from the events
(when each was detected, when it ended), never from the clock, so the same store
gives the same feed and a reader's client sees an entry change only when the event
did. Entry ids are stable URNs built from the event id, as RFC 4287 §4.2.6 asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from feedgen.feed import FeedGenerator

from voipwatch.events import Event

#: Event kinds announced: what was blocked or throttled, not what the app or the
#: network did by itself.
ALERT_KINDS: Final = frozenset({"block", "throttling"})
#: Entries in one feed document, newest first (feed readers poll; older entries they
#: have already seen).
FEED_ENTRIES: Final = 100
_VERBS: Final[dict[str, str]] = {"throttling": "throttled"}


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """Which events a feed carries (all, one country, one app) and where it lives."""

    base_url: str
    cc: str | None = None
    app: str | None = None

    @property
    def path(self) -> str:
        params = "&".join(f"{k}={v}" for k, v in (("cc", self.cc), ("app", self.app)) if v)
        return "/feed.atom" + (f"?{params}" if params else "")


@dataclass(frozen=True, slots=True)
class Entry:
    """One announcement: a block found (``found``) or over (``ended``)."""

    id: str
    what: str
    event: Event
    updated: datetime
    title: str
    summary: str


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _detected(event: Event) -> datetime:
    """When the detector first saw the event (its evidence says), else its onset."""
    text = event.evidence.get("detected_at")
    if isinstance(text, str):
        try:
            return _aware(datetime.fromisoformat(text))
        except ValueError:
            pass
    return _aware(event.start_latest)


def alert_entries(
    events: Iterable[Event],
    *,
    names: Callable[[str], str] = str,
    countries: Callable[[str], str] = str,
) -> list[Entry]:
    """The feed's entries for ``events``, newest first, at most :data:`FEED_ENTRIES`.

    ``names`` gives an app's name from its id and ``countries`` a country's from its
    code (passed in: the feed does not read the catalogue itself).
    """
    out: list[Entry] = []
    for e in events:
        if e.kind not in ALERT_KINDS:
            continue
        app = names(e.service)
        country = f"{countries(e.probe_cc)} ({e.probe_cc})"
        where = "nationwide" if e.national else ", ".join(f"AS{a}" for a in e.asns)
        how = ", ".join(e.techniques) or "technique not isolated"
        verb = _VERBS.get(e.kind, "blocked")
        plane = "calls" if e.plane == "media" else "messaging" if e.plane == "signalling" else ""
        what = f"{app} {plane}".strip()
        onset = _aware(e.start).strftime("%Y-%m-%d %H:%M UTC")
        out.append(
            Entry(
                id=f"urn:voipwatch:event:{e.event_id}:found",
                what="found",
                event=e,
                updated=_detected(e),
                title=f"{what} {verb} in {country}",
                summary=(
                    f"{what} {verb} in {country}, {where}, since {onset} "
                    f"(technique: {how}; confidence {e.confidence:.2f}; "
                    f"{e.measurements} measurements)."
                ),
            )
        )
        if e.end is not None:
            end = _aware(e.end)
            out.append(
                Entry(
                    id=f"urn:voipwatch:event:{e.event_id}:ended",
                    what="ended",
                    event=e,
                    updated=end,
                    title=f"{what} no longer {verb} in {country}",
                    summary=(
                        f"The block of {what} in {country}, {where}, that began {onset} "
                        f"ended {end:%Y-%m-%d %H:%M} UTC."
                    ),
                )
            )
    out.sort(key=lambda x: (x.updated, x.id), reverse=True)
    return out[:FEED_ENTRIES]


def atom_feed(entries: list[Entry], query: FeedQuery, *, title: str) -> bytes:
    """The Atom document of ``entries``; ``updated`` is the newest entry's time."""
    base = query.base_url.rstrip("/")
    fg = FeedGenerator()
    fg.id(f"urn:voipwatch:feed:{query.cc or 'all'}:{query.app or 'all'}")
    fg.title(title)
    fg.author({"name": "voipwatch"})
    fg.link(href=base + query.path, rel="self", type="application/atom+xml")
    fg.link(href=base + "/", rel="alternate", type="text/html")
    fg.language("en")
    # A feed with no entries says so from the start of time, not from the clock.
    fg.updated(entries[0].updated if entries else datetime(1970, 1, 1, tzinfo=UTC))
    # feedgen lists entries in reverse order of adding them.
    for item in reversed(entries):
        fe = fg.add_entry()
        fe.id(item.id)
        fe.title(item.title)
        fe.updated(item.updated)
        fe.published(item.updated)
        fe.summary(item.summary)
        fe.link(href=f"{base}/event/{item.event.event_id}", rel="alternate", type="text/html")
        fe.category(term=item.what)
        fe.category(term=item.event.probe_cc)
        fe.category(term=item.event.service)
    data: bytes = fg.atom_str(pretty=True)
    return data
