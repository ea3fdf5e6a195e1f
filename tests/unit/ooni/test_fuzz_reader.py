"""Property-based fuzzing of the measurement reader and the verdict engine.

The contract: any byte string in any packaging the reader accepts yields records and
:class:`~voipwatch.ooni.reader.Problem` values, never an exception; any record yields
a verdict or an :class:`~voipwatch.errors.InputError`; every verdict encodes as JSON
and speaks the shared vocabulary. ``test_model.py`` already fuzzes single wrongly
typed keys of the IM tests; here the whole measurement is drawn from its own schema
(every declared struct, the call plane's included), with wrong types at any depth,
NaN / Infinity literals, and byte-level damage to real measurements.

Examples are bounded so the run stays short; ``benchmarks/fuzz_reader.py`` is the long,
coverage-guided run.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import types
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voipwatch.errors import InputError
from voipwatch.ooni.model import Measurement
from voipwatch.ooni.reader import Problem, Record, read_file
from voipwatch.verdicts import judge, judge_bytes
from voipwatch.verdicts.engine import RULES

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MEASUREMENTS = sorted((FIXTURES / "measurements").glob("*.json"))
STATUSES = {"ok", "anomaly", "confirmed", "failure", "unsupported"}
ROLE_STATUSES = {"ok", "blocked", "partial", "degraded", "down", "failure", "unknown"}
PLANES = {"signalling", "media", "web", "circumvention"}
#: Every test name with rules of its own, and a generic one of the catalogue.
TEST_NAMES = sorted({*RULES, "voipwatch_whatsapp", "voipwatch_nosuchapp", "dash"})
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Values OONI really writes, so drawn measurements reach deep into the rules.
_FAILURES = st.sampled_from(
    [
        "connection_reset",
        "generic_timeout_error",
        "dns_nxdomain_error",
        "connection_refused",
        "ssl_invalid_hostname",
        "eof_error",
        "unknown_failure: x",
        "",
    ]
)
_STRINGS = st.one_of(
    st.text(max_size=12),
    # Lone surrogates: json.dumps writes them as \\udXXX escapes, which Python reads.
    st.text(st.characters(categories=["Cs", "Lu"]), max_size=3),
    _FAILURES,
    st.sampled_from(
        [
            "ok",
            "blocked",
            "consistent",
            "inconsistent",
            "1.2.3.4",
            "1.2.3.4:443",
            "[::1]:3478",
            "stun_binding",
            "udp",
            "tcp",
            "tls",
            "media",
            "helper",
            "random_port",
            "AS30722",
            "2024-01-01 00:00:00",
            "A",
            "AAAA",
            "dns",
            "tcp_connect",
            "tls_handshake",
        ]
    ),
)
_FLOATS = st.floats(allow_nan=True, allow_infinity=True)
_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | _FLOATS | _STRINGS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_STRINGS, inner, max_size=3),
    max_leaves=6,
)


def shaped(typ: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like ``typ`` (a msgspec schema), wrong-typed now and then at any depth."""
    return st.one_of(_shaped(typ, depth), _shaped(typ, depth), _shaped(typ, depth), _json)


def _shaped(typ: Any, depth: int) -> st.SearchStrategy[Any]:
    if depth > 4:
        return _json
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_shaped(t, depth) for t in typing.get_args(typ)))
    if origin is list:
        (item,) = typing.get_args(typ)
        return st.lists(shaped(item, depth + 1), max_size=3)
    if origin is dict:
        _, value = typing.get_args(typ)
        return st.dictionaries(_STRINGS, shaped(value, depth + 1), max_size=3)
    if isinstance(typ, type) and issubclass(typ, msgspec.Struct):
        fields = msgspec.structs.fields(typ)
        return st.fixed_dictionaries(
            {}, optional={f.encode_name: shaped(f.type, depth + 1) for f in fields}
        )
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: _STRINGS,
        int: st.integers(-(2**70), 2**70),
        float: _FLOATS,
        bool: st.booleans(),
        type(None): st.none(),
    }
    return simple.get(typ, _json)


def check(j: Any) -> None:
    """A verdict that any command could print and store."""
    v = j.verdict
    msgspec.json.encode(v)
    msgspec.json.encode(j.observations)
    assert isinstance(j.key, str)
    assert j.key
    assert v.status in STATUSES
    assert isinstance(v.probe_cc, str)
    assert v.probe_asn.startswith("AS")
    for s in v.services:
        assert s.status in ROLE_STATUSES
        assert s.plane in PLANES
        assert 0.0 <= s.confidence <= 1.0, s


def judged_or_error(raw: bytes) -> None:
    try:
        j = judge_bytes(raw, source="fuzz", line=1)
    except InputError as exc:
        reason = exc.reason
    else:
        check(j)
        return
    assert reason
    assert "\n" not in reason


@FUZZ
@given(test_name=st.sampled_from(TEST_NAMES), doc=shaped(Measurement))
def test_any_measurement_of_any_test_yields_a_verdict(test_name: str, doc: Any) -> None:
    """A measurement drawn from the schema, wrong types anywhere, is judged: never an error."""
    if not isinstance(doc, dict):
        doc = {"test_keys": doc}
    doc["test_name"] = test_name
    raw = json.dumps(doc, allow_nan=True).encode()
    j = judge_bytes(raw, source="fuzz", line=1)
    check(j)
    assert j.verdict.test_name == test_name


@FUZZ
@given(value=_json)
def test_any_json_value_yields_a_verdict_or_an_input_error(value: Any) -> None:
    judged_or_error(json.dumps(value, allow_nan=True).encode())


@FUZZ
@given(raw=st.binary(max_size=600))
def test_any_bytes_yield_a_verdict_or_an_input_error(raw: bytes) -> None:
    judged_or_error(raw)


def _mutate(data: bytes, cuts: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for pos, length, insert in cuts:
        at = pos % (len(out) + 1)
        out[at : at + length] = insert
    return bytes(out)


_DAMAGE = (b"", b"\xff", b"\xc3(", b"NaN", b"-Infinity", b'"', b"{", b"]", b",", b"\x00")
_DAMAGE += (b"1e999", b"\\ud800", b"[" * 3000)
_EDITS = st.lists(
    st.tuples(
        st.integers(0, 1 << 20),
        st.integers(0, 8),
        st.sampled_from(_DAMAGE) | st.binary(max_size=4),
    ),
    min_size=1,
    max_size=4,
)


@FUZZ
@given(fixture=st.sampled_from(MEASUREMENTS), edits=_EDITS)
def test_damaged_real_measurements(fixture: Path, edits: list[tuple[int, int, bytes]]) -> None:
    """Real measurements with bytes changed, cut or inserted: a verdict or a clear error."""
    judged_or_error(_mutate(fixture.read_bytes(), edits))


def _package(kind: str, body: bytes, tmp: Path) -> Path:
    path = tmp / f"fuzz.{kind}"
    if kind in ("jsonl.gz", "json.gz"):
        data = gzip.compress(body, mtime=0)
        path.write_bytes(data)
    elif kind == "tar.gz":
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for i, part in enumerate(body.split(b"\n\n")[:3]):
                info = tarfile.TarInfo(f"2024010100_XX/{i}.post")
                info.size = len(part)
                tar.addfile(info, io.BytesIO(part))
        path.write_bytes(buf.getvalue())
    else:
        path.write_bytes(body)
    return path


def read_everything(path: Path) -> tuple[int, int]:
    """Read and judge ``path`` as a command would; count records and problems."""
    records = problems = 0
    for item in read_file(path):
        if isinstance(item, Problem):
            problems += 1
            assert "\n" not in str(item)
            assert str(item).startswith(str(path))
            continue
        assert isinstance(item, Record)
        records += 1
        try:
            check(judge(item))
        except InputError:
            problems += 1
    return records, problems


_BODIES = st.one_of(
    st.binary(max_size=800),
    st.lists(
        st.one_of(
            st.sampled_from([p.read_bytes() for p in MEASUREMENTS[:4]]),
            _json.map(lambda v: json.dumps(v, allow_nan=True).encode()),
            st.binary(max_size=40),
        ),
        max_size=4,
    ).map(b"\n".join),
)


@FUZZ
@given(
    kind=st.sampled_from(["jsonl", "json", "jsonl.gz", "json.gz", "tar.gz", "post", "ndjson"]),
    body=_BODIES,
    cut=st.none() | st.integers(0, 4000),
)
def test_any_file_in_any_packaging(
    tmp_path_factory: pytest.TempPathFactory, kind: str, body: bytes, cut: int | None
) -> None:
    """Every file yields records and problems only; a file is never silently empty."""
    tmp = tmp_path_factory.mktemp("fuzz")
    path = _package(kind, body, tmp)
    if cut is not None:
        path.write_bytes(path.read_bytes()[:cut])
    records, problems = read_everything(path)
    assert records + problems >= 1, "a file with nothing readable is reported"


def test_wrong_type_then_invalid_utf8_is_repaired() -> None:
    """Found by benchmarks/fuzz_reader.py: a wrongly typed field, then a stray byte later.

    The typed decode stopped at the wrong type before meeting the byte; the tolerant
    re-read met it and let a UnicodeDecodeError escape.
    """
    raw = b'{"test_name":"signal","probe_cc":5,"software_name":"x\xa1","test_keys":{}}'
    j = judge_bytes(raw)
    check(j)
    assert any("invalid UTF-8" in n for n in j.verdict.notes)
    assert any("probe_cc" in n for n in j.verdict.notes)


def test_lone_surrogate_escapes_are_replaced() -> None:
    """Found by the nasty corpus: ``"\\ud800"`` in report_id made a verdict no encoder takes.

    msgspec refuses such escapes, the standard library's lenient reading accepts them,
    and the string then could not be written as UTF-8 (``could not judge``).
    """
    raw = b'{"test_name":"signal","report_id":"a\\ud800b\\ud83d\\ude00","probe_cc":NaN}'
    j = judge_bytes(raw)
    check(j)
    assert j.verdict.report_id == "a\ufffdb\U0001f600"
    assert any("lone surrogates" in n for n in j.verdict.notes)
