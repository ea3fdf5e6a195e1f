"""Plain-language lines from verdicts: what works, what is blocked, and how."""

from __future__ import annotations

from collections.abc import Iterable

from voipwatch.catalog import Catalog, load
from voipwatch.verdicts import Verdict
from voipwatch.verdicts.techniques import describe

_TEST_SERVICE = {
    "whatsapp": "whatsapp",
    "telegram": "telegram",
    "signal": "signal",
    "facebook_messenger": "messenger",
}


def _label(cat: Catalog, service: str, role: str) -> str:
    name = cat.services[service].name if service in cat.services else service
    r = cat.roles.get(role)
    if r is None:
        return f"{name} ({role})"
    label = r.label
    if label.lower().startswith(name.lower()):
        return label
    return f"{name}: {label}"


def _status(status: str, technique: str | None) -> str:
    how = describe(technique) if technique else ""
    if status == "ok":
        return "reachable"
    if status == "blocked":
        return f"blocked — {how}" if how else "blocked (the failing step is in the evidence)"
    if status == "partial":
        return "partly blocked — some of its servers fail" + (f": {how}" if how else "")
    if status == "degraded":
        return "works, but degraded" + (f" — {how}" if how else "")
    if status == "down":
        return "down — the service itself seems out (the control fails too), not blocked"
    if status == "failure":
        return "could not be measured reliably (see the notes in --json)"
    return "not measured in this run"


def summary(verdicts: Iterable[Verdict], *, catalog: Catalog | None = None) -> list[str]:
    """One line per app role, e.g. ``WhatsApp Web: blocked — the connection is reset …``."""
    cat = catalog or load()
    lines: list[str] = []
    for v in verdicts:
        if not v.services:
            svc = _TEST_SERVICE.get(v.test_name, v.test_name.removeprefix("voipwatch_"))
            name = cat.services[svc].name if svc in cat.services else svc
            if v.status == "unsupported":
                lines.append(f"{name}: measured; voipwatch cannot judge this test yet")
            else:
                lines.append(f"{name}: could not be measured ({v.status})")
            continue
        for s in v.services:
            lines.append(f"{_label(cat, s.service, s.role)}: {_status(s.status, s.technique)}")
    return lines
