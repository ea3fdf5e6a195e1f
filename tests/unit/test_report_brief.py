"""Pieces of the brief that need no store: role names, totals, how amounts read."""

from __future__ import annotations

from voipwatch.report import brief, document


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
