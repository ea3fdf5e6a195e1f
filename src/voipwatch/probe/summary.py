"""Plain-language lines from verdicts: what works, what is blocked, and how."""

from __future__ import annotations

from collections.abc import Iterable

from voipwatch.catalog import Catalog, load
from voipwatch.verdicts import Verdict
from voipwatch.verdicts.answers import ACCEPT_ALL_NOTE
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


#: Services whose call-plane roles are the generic tests (public STUN, RTP-shaped media).
GENERIC_CALLS = ("stun", "webrtc")
#: Services that are protocols, not apps: no call verdict is borrowed for them.
NOT_APPS = (*GENERIC_CALLS, "sip")
_WORST = ("blocked", "partial", "degraded", "down", "failure", "unknown", "ok")


def _plane_status(roles: list[tuple[str, str | None]]) -> tuple[str, str | None] | None:
    """The worst (status, technique) of a plane's roles, None when none was measured."""
    measured = [r for r in roles if r[0] not in ("unknown",)]
    if not measured:
        return None
    return min(measured, key=lambda r: _WORST.index(r[0]) if r[0] in _WORST else len(_WORST))


def headlines(verdicts: Iterable[Verdict], *, catalog: Catalog | None = None) -> list[str]:
    """One line per app with both planes: ``Telegram messages: reachable. Calls: …``.

    Messages are the app's signalling roles; calls need its media roles (STUN, relays,
    media servers) and, to be set up at all, its signalling.
    """
    cat = catalog or load()
    planes: dict[str, dict[str, list[tuple[str, str | None]]]] = {}
    for v in verdicts:
        for s in v.services:
            role = cat.roles.get(s.role)
            plane = role.plane if role is not None else s.plane
            if plane == "web":
                continue
            by = planes.setdefault(s.service, {"signalling": [], "media": []})
            by.setdefault(plane, []).append((s.status, s.technique))
    # Apps whose call servers are handed out per call (Telegram, Viber, ...) have no
    # call-plane test of their own: the generic ones (STUN on any port, RTP-shaped
    # media) speak for their calls.
    generic = _plane_status(
        [r for svc in GENERIC_CALLS for r in planes.get(svc, {}).get("media", [])]
    )
    lines = []
    for service, by in planes.items():
        name = cat.services[service].name if service in cat.services else service
        msg = _plane_status(by.get("signalling", []))
        call = _plane_status(by.get("media", []))
        parts = []
        if msg is not None:
            parts.append(f"{name} messages: {_status(*msg)}.")
        if call is None and msg is not None and msg[0] == "blocked":
            parts.append("Calls: blocked too (they are set up over the same servers).")
        elif call is not None:
            head = "Calls" if parts else f"{name} calls"
            parts.append(f"{head}: {_status(*call)}.")
        elif generic is not None and msg is not None and service not in NOT_APPS:
            parts.append(
                f"Calls: {_status(*generic)} (from the generic call tests: this app's call "
                "servers are handed out per call)."
            )
        if parts:
            lines.append(" ".join(parts))
    return lines


def summary(verdicts: Iterable[Verdict], *, catalog: Catalog | None = None) -> list[str]:
    """Per app a headline over both planes, then one line per role, e.g.
    ``WhatsApp Web: blocked — the connection is reset …``."""
    cat = catalog or load()
    verdicts = list(verdicts)
    lines: list[str] = headlines(verdicts, catalog=cat)
    warnings = sorted({n for v in verdicts for n in v.notes if n.startswith(ACCEPT_ALL_NOTE)})
    lines = [f"Warning: {w[0].upper()}{w[1:]}." for w in warnings] + lines
    if lines:
        lines.append("")
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
