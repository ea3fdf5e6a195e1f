"""A measurement in plain language: the probe's own summary lines, and each atom read out.

The lines are the ones ``voipwatch probe`` prints (:mod:`voipwatch.probe.summary`),
so a reader sees the same words in the terminal and on the web.
"""

from __future__ import annotations

from typing import Any

import msgspec

from voipwatch.events import counts_text as counts_text
from voipwatch.probe.summary import summary
from voipwatch.verdicts.techniques import describe
from voipwatch.verdicts.types import Verdict
from voipwatch.views import plain
from voipwatch.views.measurements import MeasurementDossier

_OPERATIONS = {
    "resolve": "resolving the name",
    "connect": "connecting",
    "tls_handshake": "the TLS handshake",
    "http_request": "the HTTP request",
    "stun_binding": "a STUN binding request",
    "sip_options": "a SIP OPTIONS request",
}


def atom_sentence(atom: dict[str, Any]) -> str:
    """``connecting to 1.2.3.4:443 failed: connection_reset`` for an evidence atom."""
    op = str(atom.get("operation") or "")
    what = _OPERATIONS.get(op, op.replace("_", " ") or "the operation")
    target = atom.get("target") or "the server"
    failure = atom.get("failure") or "failed"
    text = f"{what} ({target}) failed: {failure}"
    if atom.get("detail"):
        text += f" — {atom['detail']}"
    return text


def reading(found: MeasurementDossier) -> list[str]:
    """The plain-language lines for a measurement's dossier."""
    meta = found.measurement
    try:
        verdict = msgspec.convert(
            {
                "measurement_uid": meta.measurement_uid,
                "report_id": meta.report_id,
                "test_name": meta.test_name,
                "probe_cc": meta.probe_cc,
                "probe_asn": meta.probe_asn,
                "test_version": meta.test_version or "",
                "measurement_start_time": meta.measurement_start_time or "",
                "input": meta.input,
                "status": meta.status,
                "services": [plain(v) for v in found.verdicts],
            },
            Verdict,
        )
    except msgspec.ValidationError:
        return [f"{meta.test_name}: {meta.status}"]
    return [line for line in summary([verdict]) if line]


def technique_text(technique: str | None) -> str:
    return describe(technique) if technique else ""
