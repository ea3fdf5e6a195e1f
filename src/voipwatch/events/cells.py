"""Cells: verdict counts per (country, network, service, role, plane, hour).

The throughput A/B of ``voipwatch_call`` (the app's server name against a harmless
one, from the same server) has cells of its own, on the plane :data:`THROUGHPUT`:
it measures the app's *rate*, where every other verdict of the role measures whether
it answers at all, and sharing their series would drown a throttle (``degraded``,
never blocked) in WhatsApp Web's own test.

A cell counts its judged verdicts (the blocked share's denominator) and the affected
ones: blocked and partial verdicts, or on the throughput plane the throttled
(``degraded``) ones. :mod:`voipwatch.store.cells` does the counting, recounting only
the hours whose measurements changed since the last run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Final

from voipwatch.events.model import THROUGHPUT
from voipwatch.store.cells import MEMORY_LIMIT, CellRules, Cells, count_cells, memory_limit
from voipwatch.store.db import Store
from voipwatch.store.events import ensure_schema

__all__ = [
    "BLOCKING",
    "JUDGED",
    "MEMORY_LIMIT",
    "RULES",
    "STATUSES",
    "THROTTLE_PREFIX",
    "CellStats",
    "build_cells",
    "memory_limit",
]

#: The role statuses (the store's ``verdicts.status`` vocabulary).
STATUSES: Final = ("ok", "blocked", "partial", "degraded", "down", "failure", "unknown")
#: Statuses that say something about blocking: the blocked share's denominator.
#: ``down`` (the target itself is down), ``failure`` and ``unknown`` say nothing.
JUDGED: Final = ("ok", "blocked", "partial", "degraded")
#: Statuses that count as blocking in the blocked share.
BLOCKING: Final = ("blocked", "partial")

#: Techniques of a throttle: what a throughput series counts as affected.
THROTTLE_PREFIX: Final = "throttle."

#: What a cell counts. The A/B's verdicts (the call test's only verdicts on a
#: web-plane role; its other roles are the call plane's), and every throttle wherever
#: it was judged, go to the throughput series.
RULES: Final = CellRules(
    judged=JUDGED,
    blocking=BLOCKING,
    throttled="degraded",
    throughput_plane=THROUGHPUT,
    throttle_prefix=THROTTLE_PREFIX,
    ab_test="voipwatch_call",
)


@dataclass(frozen=True, slots=True)
class CellStats:
    """What a run of :func:`build_cells` did."""

    hours_changed: int
    hours_total: int
    cells: int
    rebuilt: bool
    elapsed_seconds: float
    #: Every cell, when this run counted them all (a fresh or rebuilt store), for
    #: :func:`voipwatch.events.detect.detect_events` to take instead of reading them
    #: back; None when only some hours were counted.
    counted: Cells | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, int | float | bool]:
        return {
            "hours_changed": self.hours_changed,
            "hours_total": self.hours_total,
            "cells": self.cells,
            "rebuilt": self.rebuilt,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


def build_cells(store: Store, *, rebuild: bool = False) -> CellStats:
    """Count the cells of every hour whose measurements changed since the last run.

    ``rebuild`` drops the cells (and the detector's state, which was computed from
    them) and counts everything again.
    """
    started = time.perf_counter()
    ensure_schema(store)
    counted = count_cells(store, RULES, rebuild=rebuild)
    return CellStats(
        hours_changed=counted.hours_changed,
        hours_total=counted.hours_total,
        cells=counted.cells,
        rebuilt=rebuild or counted.fresh,
        elapsed_seconds=time.perf_counter() - started,
        counted=counted.counted,
    )
