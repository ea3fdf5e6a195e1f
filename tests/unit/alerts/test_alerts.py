"""The Atom feed of blocking events, read back with an independent parser (feedparser)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import feedparser

from voipwatch.alerts import FEED_ENTRIES, FeedQuery, alert_entries, atom_feed
from voipwatch.testing import T0, event


def _parse(data: bytes) -> Any:
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.bozo_exception
    return parsed


def test_a_block_is_announced_when_found_and_when_it_ends() -> None:
    events = [
        event("a", end=T0 + timedelta(days=2)),
        event("b", service="signal", probe_cc="RU", asns=[], national=True),
        event("c", "target_change"),
        event("d", "possible_shutdown"),
        event("e", "outage"),  # type: ignore[arg-type]
    ]
    entries = alert_entries(events, names=str.title, countries={"IR": "Iran", "RU": "Russia"}.get)  # type: ignore[arg-type]
    assert [e.id for e in entries] == [
        "urn:voipwatch:event:a:ended",
        "urn:voipwatch:event:b:found",
        "urn:voipwatch:event:a:found",
    ]
    feed = _parse(atom_feed(entries, FeedQuery("http://127.0.0.1:8000/"), title="t"))
    assert [e.id for e in feed.entries] == [e.id for e in entries]
    first = feed.entries[-1]
    assert first.title == "Whatsapp messaging blocked in Iran (IR)"
    assert "AS44244" in first.summary
    assert "tls.reset" in first.summary
    assert first.link == "http://127.0.0.1:8000/event/a"
    assert first.updated_parsed[:5] == (2026, 3, 2, 9, 0)  # when it was detected
    assert feed.entries[1].title == "Signal messaging blocked in Russia (RU)"
    assert "nationwide" in feed.entries[1].summary
    assert feed.feed.links[0].href == "http://127.0.0.1:8000/feed.atom"


def test_the_same_events_give_the_same_feed_bytes() -> None:
    events = [event(f"x{i}", start=T0 + timedelta(hours=i)) for i in range(5)]
    q = FeedQuery("http://h/", cc="IR")
    one = atom_feed(alert_entries(events), q, title="t")
    two = atom_feed(alert_entries(list(reversed(events))), q, title="t")
    assert one == two
    assert b"/feed.atom?cc=IR" in one


def test_an_empty_feed_is_valid_and_dated_without_the_clock() -> None:
    data = atom_feed([], FeedQuery("http://h/", app="signal"), title="nothing yet")
    feed = _parse(data)
    assert feed.entries == []
    assert feed.feed.updated_parsed[:3] == (1970, 1, 1)


def test_the_feed_is_bounded() -> None:
    events = [event(f"y{i}", end=T0 + timedelta(days=1)) for i in range(FEED_ENTRIES)]
    assert len(alert_entries(events)) == FEED_ENTRIES


def test_text_from_the_store_stays_text() -> None:
    hostile = event("z", service="<script>alert(1)</script>")
    data = atom_feed(alert_entries([hostile]), FeedQuery("http://h/"), title="t")
    assert b"<script>" not in data
    assert _parse(data).entries[0].title.startswith("<script>")
