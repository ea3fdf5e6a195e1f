"""Events: cells of verdict counts, change points, roll-up to events, evaluation.

The events tier of DESIGN.md's data flow: verdicts are counted per
(country, network, service, role, plane, hour) into cells; a change-point detector
turns each cell series into onsets and ends; onsets that move together across a
country's networks roll up into a national event. :mod:`voipwatch.events.model`
holds the :class:`~voipwatch.events.model.Event` every later tier reads.

Other rooms import what is listed in ``__all__`` from here.
"""

from voipwatch.events.cells import build_cells
from voipwatch.events.corroborate import corroboration
from voipwatch.events.current import counts_text, current_blocks, latest_time
from voipwatch.events.detect import detect_events
from voipwatch.events.evaluate import score
from voipwatch.events.generate import DEFAULT_START, generate_world
from voipwatch.events.known import KnownChange
from voipwatch.events.known import load as load_known_changes
from voipwatch.events.labels import Label, iso, load_labels
from voipwatch.events.model import ARTEFACTS, THROTTLED, Event, is_artefact
from voipwatch.events.store import load_events, quarantine_usage, save_events, save_usage
from voipwatch.events.usage import UsageFile, read_usage_csv

__all__ = [
    "ARTEFACTS",
    "DEFAULT_START",
    "THROTTLED",
    "Event",
    "KnownChange",
    "Label",
    "UsageFile",
    "build_cells",
    "corroboration",
    "counts_text",
    "current_blocks",
    "detect_events",
    "generate_world",
    "is_artefact",
    "iso",
    "latest_time",
    "load_events",
    "load_known_changes",
    "load_labels",
    "quarantine_usage",
    "read_usage_csv",
    "save_events",
    "save_usage",
    "score",
]
