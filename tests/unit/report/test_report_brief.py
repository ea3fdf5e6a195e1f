"""Pieces of the brief that need no store: role names, totals, how amounts read."""

from __future__ import annotations

from datetime import UTC, date, datetime

from voipwatch.cost import estimate
from voipwatch.report import brief, document
from voipwatch.views.brief_rows import Coverage


def test_role_ids_are_full_names_even_when_doubled() -> None:
    assert brief.role_id("signal", "signal/signal/chat") == "signal/chat"
    assert brief.role_id("signal", "signal/chat") == "signal/chat"
    assert brief.role_id("whatsapp", "whatsapp/web") == "whatsapp/web"


def test_total_cost_adds_one_currency_only() -> None:
    usd = {"low": 1.0, "central": 2.0, "high": 3.0, "upper_bound_full_shutdown": 9.0}
    total = brief._total([{**usd, "currency": "USD"}, {**usd, "currency": "USD"}])
    assert total == {
        "low": 2.0,
        "central": 4.0,
        "high": 6.0,
        "upper": 18.0,
        "currency": "USD",
        "count": 2,
    }
    assert brief._total([{**usd, "currency": "USD"}, {**usd, "currency": "EUR"}]) is None
    assert brief._total([]) is None


def test_numbers_read_as_words_in_tables() -> None:
    assert document._num(2.17e12) == "2.17 trillion"
    assert document._num(91_600_000) == "91.6 million"
    assert document._num(1266) == "1,266"
    assert document._num(0.008808) == "0.008808"
    assert document._num("high") == "high"


def test_numbered_sources_are_documents_not_formulas_or_assumptions() -> None:
    """An estimate on networks without market shares: its assumed share, its computed
    weight and duration are beside the estimate, never among the numbered sources."""
    est = estimate(
        "IR", "signal", date(2024, 3, 1), 240, networks=[44244], today=date(2024, 4, 1)
    ).to_dict()
    b = brief.Brief(
        cc="IR",
        country="Iran",
        generated=datetime(2024, 4, 1, tzinfo=UTC),
        synthetic=None,
        coverage=Coverage(measurements=0, networks=[], first=None, last=None, tests={}),
        events=[{"cost": est}],
    )
    titles = [s["title"] for s in brief._sources(b)]
    assert any(t.startswith("World Bank") for t in titles)
    assert any(t.startswith("Deloitte") for t in titles)
    assert any(t.startswith("Darrell M. West") for t in titles)
    for t in titles:
        assert not t.startswith("voipwatch assumption"), t
        assert t not in ("k x reach", "the block's duration (hours / 24)"), t
    share = est["inputs"]["share_affected"]  # type: ignore[index]
    assert share["assumption"] is True
    assert "year" not in share
