"""Circumvention-usage CSVs, surge detection and corroboration of events."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from voipwatch.errors import InputError
from voipwatch.events.corroborate import attach_surges, corroboration, detect_surges
from voipwatch.events.model import Event
from voipwatch.events.usage import UsageRow, read_usage_csv

COUNTRIES = ["BR", "DE", "EG", "FR", "IN", "IR", "IT", "JP", "MX", "NG", "RU", "US"]
DAY0 = date(2026, 1, 1)


def usage(surge: tuple[str, date] | None = None) -> list[UsageRow]:
    """Sixty days of steady use with a weekly rhythm, ±3 % noise; optionally tripled
    in one country from one day on."""
    rng = random.Random(7)
    rows = []
    for i, cc in enumerate(COUNTRIES):
        base = 2000 + 500 * i
        for d in range(60):
            day = DAY0 + timedelta(days=d)
            value = base * (0.9 if day.weekday() >= 5 else 1.0) * rng.uniform(0.97, 1.03)
            if surge and cc == surge[0] and day >= surge[1]:
                value *= 3
            rows.append(UsageRow(day, cc, round(value)))
    return rows


def test_steady_use_has_no_surge() -> None:
    assert detect_surges(usage()) == []


def test_a_tripling_in_one_country_is_a_surge() -> None:
    onset = DAY0 + timedelta(days=30)
    surges = detect_surges(usage(("IR", onset)))
    assert surges
    assert {s.country for s in surges} == {"IR"}
    # The ratio to a week earlier stays high for a week, then the new level is normal.
    assert min(s.date for s in surges) == onset
    assert max(s.date for s in surges) < onset + timedelta(days=7)
    assert all(s.value > s.expected_high for s in surges)


def test_few_countries_pool_the_ratios_of_earlier_days() -> None:
    onset = DAY0 + timedelta(days=40)
    few = [r for r in usage(("IR", onset)) if r.country in ("IR", "DE", "RU", "BR")]
    surges = detect_surges(few)
    assert {s.country for s in surges} == {"IR"}
    assert min(s.date for s in surges) == onset


def _event(cc: str, start: datetime, end: datetime | None, kind: str = "block") -> Event:
    return Event(
        event_id="e1",
        kind=kind,  # type: ignore[arg-type]
        probe_cc=cc,
        asns=[1],
        national=False,
        service="whatsapp",
        roles=["whatsapp/endpoints"],
        plane="signalling",
        techniques=[],
        start=start,
        start_earliest=start,
        start_latest=start,
        end=end,
        confidence=0.5,
        measurements=10,
    )


def test_a_coinciding_surge_is_attached_and_raises_confidence() -> None:
    onset = DAY0 + timedelta(days=30)
    surges = detect_surges(usage(("IR", onset)))
    start = datetime(2026, 1, 31, 6, tzinfo=UTC)
    events = [
        _event("IR", start, start + timedelta(days=2)),
        _event("RU", start, None),
        _event("IR", start - timedelta(days=20), start - timedelta(days=18)),
        _event("IR", start, None, kind="target_change"),
    ]
    out = attach_surges(events, surges, source="tor.csv", tool="Tor")
    assert [len(e.surges) for e in out] == [3, 0, 0, 0]  # 31 Jan to 2 Feb
    assert out[0].surges[0].source == "tor.csv"
    assert out[0].surges[0].date == "2026-01-31"
    # The stated rule: a fifth of the remaining doubt, per corroborating series.
    assert out[0].confidence == round(1 - (1 - events[0].confidence) * 0.8, 3) == 0.6
    assert out[1:] == events[1:]
    (sentence,) = corroboration(out[0], "Iran")
    assert sentence.startswith("Tor users in Iran rose 3.")
    assert "× in the week the block began" in sentence
    assert "3 days of surge; tor.csv" in sentence
    # A second series corroborates too, and says so in its own sentence.
    twice = attach_surges(out, surges, source="psiphon.csv", tool="Psiphon")
    assert twice[0].confidence == 0.68
    assert [s.split(" users")[0] for s in corroboration(twice[0], "Iran")] == ["Psiphon", "Tor"]


def test_tor_metrics_shape_is_read(tmp_path: Path) -> None:
    path = tmp_path / "userstats.csv"
    path.write_text(
        "# Tor Metrics userstats-relay-country\n"
        "# https://metrics.torproject.org/userstats-relay-country.csv\n"
        "date,country,users,lower,upper,frac\n"
        "2026-01-01,,2000000,,,90\n"
        "2026-01-01,ir,30000,24000,36000,90\n"
        "2026-01-01,??,5000,,,90\n"
        "2026-01-01,a1,12,,,90\n"
        "2026-01-02,de,NA,,,90\n"
        "2026-01-02,DE,250000.5,,,90\n"
        "2026-01-02,xk,800,,,90\n"
    )
    got = read_usage_csv(path)
    assert (got.source, got.tool, got.shape) == ("userstats.csv", "Tor", "tor-metrics")
    assert got.rows == [
        UsageRow(date(2026, 1, 1), "IR", 30000.0),
        UsageRow(date(2026, 1, 2), "DE", 250000.5),
        UsageRow(date(2026, 1, 2), "XK", 800.0),
    ]
    # The world total, Tor's pseudo-countries and a missing figure are not errors.
    assert (got.bad, got.skipped) == ([], 4)


def test_generic_shape_names_its_tool_in_a_comment(tmp_path: Path) -> None:
    path = tmp_path / "psiphon.csv"
    path.write_text("# tool: Psiphon\ndate,country,users\n2026-01-01,IR,1200\n")
    got = read_usage_csv(path)
    assert (got.tool, got.shape, got.rows) == (
        "Psiphon",
        "generic",
        [UsageRow(date(2026, 1, 1), "IR", 1200.0)],
    )
    path.write_text("date,country,users\n2026-01-01,IR,1200\n")
    assert read_usage_csv(path).tool == ""


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("date,country,value\n2026-01-01,IR,12\n2026-13-01,IR,3\n", 3, "not a date"),
        ("date,country,value\n2026-01-01,IR,lots\n", 2, "not a number"),
        ("date,country,value\n2026-01-01,IR\n", 2, "2 fields"),
        ("date,country,value\n2026-01-01,Iran,4\n", 2, "not a country code"),
        ("date,country,users\n2026-01-01,XZ,4\n", 2, "not a country code (ISO 3166"),
        ("date,country,value\n2026-01-01,IR,-4\n", 2, "not a count of users (negative"),
    ],
)
def test_a_malformed_row_is_named_and_the_good_rows_kept(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(text + "2026-01-09,DE,77\n")
    got = read_usage_csv(path)
    assert UsageRow(date(2026, 1, 9), "DE", 77.0) in got.rows
    (bad,) = got.bad
    assert str(bad.error).startswith(f"{path}:{line}: ")
    assert reason in str(bad.error)
    assert bad.text == text.splitlines()[line - 1]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("day,cc,value\n2026-01-01,IR,4\n", 1, "header lacks date, country"),
        ("date,country,score\n", 1, "header lacks value"),
        ("# only a comment\n", 0, "empty"),
    ],
)
def test_a_file_without_the_columns_stops_with_file_and_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_usage_csv(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert reason in message


def test_a_missing_or_binary_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_usage_csv(tmp_path / "absent.csv")
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="cannot read"):
        read_usage_csv(path)
