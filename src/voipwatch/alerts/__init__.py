"""Alerts: telling people of blocks as they are found — an Atom feed of new and ended
blocking events (all, per country, per app).

Artefacts (target changes, outages, possible shutdowns) are not blocks and are not
announced: the feed carries what a digital-rights group would act on.
"""

from voipwatch.alerts.feed import ALERT_KINDS, FEED_ENTRIES, FeedQuery, alert_entries, atom_feed

__all__ = ["ALERT_KINDS", "FEED_ENTRIES", "FeedQuery", "alert_entries", "atom_feed"]
