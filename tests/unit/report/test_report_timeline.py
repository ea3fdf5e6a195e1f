"""The brief's dated timeline paragraph, from the brief's own event rows."""

from __future__ import annotations

from typing import Any

from voipwatch.report.charts.base import money
from voipwatch.report.timeline import timeline


def _row(**kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": "block",
        "app": "Signal",
        "plane": "media",
        "what": "Signal calls",
        "national": False,
        "where": "AS44244 (Irancell), AS197207 (MCI)",
        "how": [{"technique": "tls.reset", "plain": "the connection is reset (SNI filtering)"}],
        "start": "2026-10-03T06:00:00+00:00",
        "end": None,
        "evidence_end": "2026-10-13T11:00:00+00:00",
        "cost": {"central": 70_512.3, "currency": "USD"},
    }
    row.update(kw)
    return row


def test_a_dated_paragraph_in_words_with_the_briefs_own_figures() -> None:
    rows = [
        _row(),
        _row(
            app="WhatsApp",
            plane="signalling",
            what="WhatsApp messages",
            national=True,
            where="nationwide",
            how=[],
            start="2026-09-21T00:00:00+00:00",
            end="2026-09-23T12:00:00+00:00",
            cost=None,
        ),
        # An artefact is not a block: not in the timeline.
        _row(kind="possible_shutdown", app="Every app", what="Possible shutdown"),
    ]
    text = timeline(rows, country="Iran")
    assert text == (
        "voipwatch detected 2 blocks of calling and messaging apps in Iran between "
        "21 September 2026 and 3 October 2026. "
        "On 21 September 2026, WhatsApp messages were blocked nationwide. "
        "It ended on 23 September 2026. "
        "On 3 October 2026, Signal calls were blocked on AS44244 (Irancell) and AS197207 "
        "(MCI): the connection is reset (SNI filtering). It was still in place in the last "
        f"measurements, on 13 October 2026, at an estimated cost of {money(70_512.3)} so far."
    )
    assert "70,512" not in text  # never to the dollar
    assert "USD 70.5 thousand" in text


def test_no_block_no_timeline() -> None:
    assert timeline([], country="Italy") == ""
    assert timeline([_row(kind="target_change")], country="Iran") == ""
