"""Property-based fuzzing of the case importers (OONI incidents, STOP, CenAlert, our own).

The contract of ``voipwatch cases import``: any file yields a :class:`Batch` (records,
rows left out with a reason, bad rows as :class:`InputError` naming the line) or one
:class:`voipwatch.errors.VoipwatchError` for the whole file; never another exception.
Rows are drawn with the sources' own headers and cells that are sometimes real
(dates, countries, app names) and sometimes anything at all.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voipwatch.cases.importers import READERS, Batch, read_cases
from voipwatch.cases.importers.cenalert import COLUMNS as CENALERT_COLUMNS
from voipwatch.cases.importers.ooni import CSV_COLUMNS as OONI_COLUMNS
from voipwatch.cases.importers.stop import APP_COLUMNS, OTHER_COLUMNS
from voipwatch.cases.importers.stop import COLUMNS as STOP_COLUMNS
from voipwatch.errors import InputError, VoipwatchError

TODAY = date(2026, 11, 22)
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_CELLS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "2023-04-26",
            "2023-04-27T00:00:00.000000Z",
            "2031-01-01",
            "1999-13-40",
            "Brazil",
            "BR",
            "Iran, Islamic Republic of",
            "XK",
            "ZZ",
            "WhatsApp, Telegram",
            "Signal; Skype",
            "VoIP",
            "Facebook",
            "Yes",
            "No",
            "Nationwide",
            "Full network",
            "Service-based",
            "Other",
            "28573;AS8167",
            "AS-1",
            "whatsapp;telegram",
            "throttling",
            "https://example.org/a, https://example.org/b",
            "3 days",
            "True",
            "False",
            "\ufeff",
            "a\nb",
            '"quoted"',
            "1" * 50,
        ]
    ),
)


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8", "surrogatepass")


def imported(data: bytes, source: str | None) -> Batch | None:
    """Read as ``cases import`` does: a batch, or a clear error for the whole file."""
    try:
        batch = read_cases(data, file="fuzz.csv", source=source, today=TODAY)
    except VoipwatchError as exc:
        error = str(exc)
    else:
        error = ""
    if error:
        assert "\n" not in error
        return None
    assert batch.source in READERS
    for p in batch.problems:
        assert isinstance(p, InputError)
        assert p.source == "fuzz.csv"
    for r in batch.records:
        assert len(r.country) == 2
        assert r.start <= TODAY
        assert r.end is None or r.start <= r.end <= TODAY
    return batch


def _rows(columns: list[str]) -> st.SearchStrategy[list[list[str]]]:
    return st.lists(
        st.lists(_CELLS, min_size=len(columns) - 1, max_size=len(columns) + 1), max_size=5
    )


STOP_HEADER = sorted({*STOP_COLUMNS, *APP_COLUMNS, *OTHER_COLUMNS, "shutdown_type", "an_link"})
CENALERT_HEADER = sorted({*CENALERT_COLUMNS, "affected_regions", "cause", "link", "source"})
OONI_HEADER = sorted({*OONI_COLUMNS, "tags", "published", "reported_by"})


@FUZZ
@given(
    which=st.sampled_from(["stop", "cenalert", "ooni"]),
    data=st.data(),
)
def test_any_csv_row_is_a_record_a_skip_or_a_counted_problem(which: str, data: Any) -> None:
    header = {"stop": STOP_HEADER, "cenalert": CENALERT_HEADER, "ooni": OONI_HEADER}[which]
    rows = data.draw(_rows(header))
    raw = csv_bytes(header, rows)
    for source in (which, None):
        batch = imported(raw, source)
        if batch is not None and source is None:
            assert batch.source == which


@FUZZ
@given(raw=st.binary(max_size=400), source=st.sampled_from([None, *READERS]))
def test_any_bytes(raw: bytes, source: str | None) -> None:
    imported(raw, source)


@FUZZ
@given(
    raw=st.sampled_from(
        [
            b"country,country_code,start_date,end_date,affected_services\n",
            b"start_date,country,shutdown_extent,end_date,area_name\n",
            b"id,title,start_time,end_time,ccs,asns,test_names\n",
            b'{"incidents": [',
            b"[{",
        ]
    ),
    tail=st.binary(max_size=300),
)
def test_a_real_header_then_any_bytes(raw: bytes, tail: bytes) -> None:
    imported(raw + tail, None)


_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _CELLS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_CELLS, inner, max_size=3),
    max_leaves=6,
)
_INCIDENT_KEYS = [
    "id",
    "title",
    "start_time",
    "end_time",
    "CCs",
    "ccs",
    "ASNs",
    "asns",
    "test_names",
    "tags",
    "links",
    "published",
    "reported_by",
]
_NATIVE_KEYS = [
    "source",
    "record_id",
    "country",
    "apps",
    "kind",
    "start",
    "end",
    "region",
    "asns",
    "links",
    "sources",
    "title",
    "start_precision",
    "end_status",
]


def _objects(keys: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.dictionaries(st.sampled_from(keys), _json, max_size=8),
        _json,
    )


@FUZZ
@given(incidents=st.lists(_objects(_INCIDENT_KEYS), max_size=4), wrapped=st.booleans())
def test_any_ooni_incident(incidents: list[Any], wrapped: bool) -> None:
    doc: Any = {"incidents": incidents} if wrapped else incidents
    imported(json.dumps(doc).encode(), "ooni")


@FUZZ
@given(cases=st.lists(_objects(_NATIVE_KEYS), max_size=4), as_list=st.booleans())
def test_any_voipwatch_export_record(cases: list[Any], as_list: bool) -> None:
    raw = json.dumps(cases) if as_list else "\n".join(json.dumps(c) for c in cases)
    imported(raw.encode(), "voipwatch")


# Found by the properties above (both raised a traceback before they were fixed).
_START = b'{"country": "BR", "kind": "service_block", "start": "2023-01-01", '


@pytest.mark.parametrize(
    ("source", "raw"),
    [
        ("voipwatch", b'{"sources": 5, "country": "BR"}'),
        ("voipwatch", _START + b'"apps": 7}'),
        ("voipwatch", _START + b'"sources": {"a": 1}}'),
        ("voipwatch", b"[" * 100_000),
        ("ooni", b"[" * 100_000),
        (
            "ooni",
            b'{"incidents": [{"id": 1, "title": "WhatsApp", "start_time": "2023-01-01", '
            b'"CCs": "BR", "ASNs": [1e400]}]}',
        ),
        (
            "ooni",
            b'{"incidents": [{"id": 1, "title": "WhatsApp", "start_time": "2023-01-01", '
            b'"CCs": "BR", "published": NaN}]}',
        ),
        ("voipwatch", _START + b'"end": "\xff\xfe"}'),
        ("stop", b"start_date,country,shutdown_extent,end_date,area_name\n\x00,\xff\n"),
    ],
)
def test_nasty_case_documents(source: str, raw: bytes) -> None:
    imported(raw, source)


def test_sample_files_read_whole(shared_dir: Path) -> None:
    """The real sheets, damaged: each cut short at a few places, still one clear outcome."""
    for p in (
        shared_dir / "ground-truth" / "accessnow_stop_2016_2025.csv",
        shared_dir / "ground-truth" / "cenalert_service_blocking_events_All.csv",
        shared_dir / "ground-truth" / "ooni_incidents.json",
    ):
        data = p.read_bytes()
        for cut in (len(data) // 3, len(data) // 2 + 7, len(data) - 3):
            imported(data[:cut], None)
