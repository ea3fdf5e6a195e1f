"""The read side: typed dossiers built once from the store, rendered by every face.

The API, the pages, the charts, the brief and the CLI read measurements, events,
cases, prices and legal context here, so each figure is computed in one place and
said the same way everywhere. Queries over the store that are not the store's own
writes live here or in :mod:`voipwatch.store`.
"""

from voipwatch.views.dossiers import (
    CaseDossier,
    CountryDossier,
    EventDossier,
    case_dossier,
    context_of,
    country_dossier,
    event_dossier,
    find_event,
    price,
    read_case,
    read_case_dossiers,
    read_cases,
    read_country,
    read_event,
    read_events,
)
from voipwatch.views.plain import Plain, plain, plain_object
from voipwatch.views.tiers import Tier, Unavailable, attempt

__all__ = [
    "CaseDossier",
    "CountryDossier",
    "EventDossier",
    "Plain",
    "Tier",
    "Unavailable",
    "attempt",
    "case_dossier",
    "context_of",
    "country_dossier",
    "event_dossier",
    "find_event",
    "plain",
    "plain_object",
    "price",
    "read_case",
    "read_case_dossiers",
    "read_cases",
    "read_country",
    "read_event",
    "read_events",
]
