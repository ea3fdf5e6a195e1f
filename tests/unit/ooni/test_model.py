"""Tolerant decoding: "data consumers MUST be prepared for any field being null or missing".

Every oddity of real OONI data must give a measurement (plus notes on what was
ignored), never an exception; only values that are not measurements at all raise
``InputError`` / ``NotAMeasurement``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voipwatch.errors import InputError, NotAMeasurement
from voipwatch.ooni.model import FB_KEYS, Measurement, TestKeys, decode, failure_str
from voipwatch.verdicts import judge_bytes

IM_TESTS = ("whatsapp", "telegram", "signal", "facebook_messenger", "stun_reachability")


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> dict[str, dict[str, Any]]:
    """One real measurement per IM test (the last seen, for variety of versions)."""
    out: dict[str, dict[str, Any]] = {}
    for name in (
        "ooni-samples/derived/all_raw_measurements.jsonl",
        "ooni-samples/more/all_im.jsonl",
    ):
        for line in (shared_dir / name).read_bytes().splitlines():
            d = json.loads(line)
            if d.get("test_name") in IM_TESTS:
                out[d["test_name"]] = d
    assert set(out) == set(IM_TESTS)
    return out


def _enc(d: Any) -> bytes:
    return json.dumps(d).encode()


def _ok(d: Any) -> tuple[Measurement, list[str]]:
    m, notes = decode(_enc(d))
    assert isinstance(m, Measurement)
    return m, notes


# --- null or missing, everywhere ----------------------------------------------------


def _paths(v: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key/index path inside a JSON value."""
    if isinstance(v, dict):
        for k, x in v.items():
            yield (*prefix, k)
            yield from _paths(x, (*prefix, k))
    elif isinstance(v, list):
        for i, x in enumerate(v[:3]):  # the first few items suffice
            yield (*prefix, i)
            yield from _paths(x, (*prefix, i))


def _set(d: Any, path: tuple[Any, ...], value: Any) -> Any:
    d = copy.deepcopy(d)
    target = d
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return d


def _drop(d: Any, path: tuple[Any, ...]) -> Any:
    d = copy.deepcopy(d)
    target = d
    for k in path[:-1]:
        target = target[k]
    del target[path[-1]]
    return d


@pytest.mark.shared
@pytest.mark.parametrize("test", IM_TESTS)
def test_null_anywhere_decodes_and_judges(samples: dict[str, dict[str, Any]], test: str) -> None:
    m = samples[test]
    # Only paths into the fields the model declares matter; the rest is skipped.
    declared = {f.encode_name for f in msgspec.structs.fields(Measurement)}
    declared_tk = {f.encode_name for f in msgspec.structs.fields(TestKeys)}
    paths = [
        p
        for p in _paths(m)
        if p[0] in declared and (p[0] != "test_keys" or len(p) < 2 or p[1] in declared_tk)
    ]
    assert len(paths) > 10
    for p in paths:
        for variant in (_set(m, p, None), _drop(m, p) if isinstance(p[-1], str) else None):
            if variant is None:
                continue
            raw = _enc(variant)
            # One change never removes both test_name and test_keys: always a measurement.
            decoded, _ = decode(raw)
            assert isinstance(decoded, Measurement)
            judge_bytes(raw)  # the rules must cope too


def test_every_declared_field_null() -> None:
    tk = {f.encode_name: None for f in msgspec.structs.fields(TestKeys)}
    top = {f.encode_name: None for f in msgspec.structs.fields(Measurement)}
    m, notes = _ok({**top, "test_name": "whatsapp", "test_keys": tk})
    assert m.test_keys is not None
    assert m.test_keys.tcp_connect is None
    assert notes == []
    # Null inside list items too.
    m, _ = _ok(
        {
            "test_name": "telegram",
            "test_keys": {
                "tcp_connect": [
                    None,
                    {"ip": None, "port": None, "status": None},
                    {"status": {"success": None, "failure": None}},
                ],
                "queries": [{"answers": [None, {"ipv4": None}]}],
                "requests": [{"request": None, "response": None, "failure": None}],
            },
        }
    )
    assert m.test_keys is not None
    assert m.test_keys.tcp_connect is not None
    assert len(m.test_keys.tcp_connect) == 2  # the bare null entry is dropped


@pytest.mark.shared
def test_missing_test_keys(samples: dict[str, dict[str, Any]]) -> None:
    m = {k: v for k, v in samples["whatsapp"].items() if k != "test_keys"}
    decoded, _ = _ok(m)
    assert decoded.test_keys is None
    assert decoded.report_id == m["report_id"]
    j = judge_bytes(_enc(m))
    assert j.verdict.test_name == "whatsapp"


@pytest.mark.shared
def test_test_keys_null(samples: dict[str, dict[str, Any]]) -> None:
    decoded, _ = _ok({**samples["signal"], "test_keys": None})
    assert decoded.test_keys is None


# --- legacy spellings ---------------------------------------------------------------


@pytest.mark.shared
def test_facebook_legacy_keys_both_spellings(samples: dict[str, dict[str, Any]]) -> None:
    modern = samples["facebook_messenger"]
    fb = {k: v for k, v in modern["test_keys"].items() if k.startswith("facebook_")}
    assert len(fb) == 16
    legacy_tk = {
        **{k: v for k, v in modern["test_keys"].items() if not k.startswith("facebook_")},
        **{k.replace("_", "-"): v for k, v in fb.items()},
    }
    legacy = {**modern, "test_keys": legacy_tk, "test_version": "0.3.0"}
    m_new, _ = _ok(modern)
    m_old, _ = _ok(legacy)
    assert m_new.test_keys is not None
    assert m_old.test_keys is not None
    for new, old in FB_KEYS:
        key = new
        assert getattr(m_new.test_keys, new) == fb[key]
        # The legacy spelling is read, and copied into the canonical field.
        assert getattr(m_old.test_keys, old) == fb[key]
        assert getattr(m_old.test_keys, new) == fb[key]
    a, b = judge_bytes(_enc(modern)), judge_bytes(_enc(legacy))
    assert [(s.role, s.status) for s in a.verdict.services] == [
        (s.role, s.status) for s in b.verdict.services
    ]


def test_canonical_facebook_key_wins_over_legacy() -> None:
    m, _ = _ok(
        {
            "test_name": "facebook_messenger",
            "test_keys": {
                "facebook_tcp_blocking": False,
                "facebook-tcp-blocking": True,
                "facebook-dns-blocking": True,
            },
        }
    )
    assert m.test_keys is not None
    assert m.test_keys.facebook_tcp_blocking is False
    assert m.test_keys.facebook_dns_blocking is True


@pytest.mark.shared
def test_stun_reachability_both_test_names(samples: dict[str, dict[str, Any]]) -> None:
    spec = samples["stun_reachability"]
    probe_cli = {**spec, "test_name": "stunreachability"}
    a, b = judge_bytes(_enc(spec)), judge_bytes(_enc(probe_cli))
    assert a.verdict.status != "unsupported"
    assert b.verdict.status == a.verdict.status
    assert [(s.role, s.status) for s in a.verdict.services] == [
        (s.role, s.status) for s in b.verdict.services
    ]


@pytest.mark.shared
def test_legacy_tcp_connect_failure_false(samples: dict[str, dict[str, Any]]) -> None:
    m = copy.deepcopy(samples["telegram"])
    for tc in m["test_keys"]["tcp_connect"]:
        tc["status"] = {"success": True, "failure": False, "blocked": False}
    decoded, notes = _ok(m)
    assert notes == []
    assert decoded.test_keys is not None
    assert decoded.test_keys.tcp_connect
    for tc in decoded.test_keys.tcp_connect:
        assert tc.status is not None
        assert failure_str(tc.status.failure) is None
    judge_bytes(_enc(m))


@pytest.mark.shared
def test_maybe_binary_data_bodies(samples: dict[str, dict[str, Any]]) -> None:
    m = copy.deepcopy(samples["whatsapp"])
    b64 = {"format": "base64", "data": "3q2+7w=="}
    for r in m["test_keys"]["requests"]:
        r["request"]["body"] = b64
        if r.get("response"):
            r["response"]["body"] = b64
    decoded, notes = _ok(m)
    assert notes == []
    assert decoded.test_keys is not None
    assert decoded.test_keys.requests


# --- wrong types --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("whatsapp_endpoints_status", 1, "whatsapp_endpoints_status"),  # number for string
        ("registration_server_failure", {"x": 1}, "registration_server_failure"),
        ("queries", {"hostname": "v.whatsapp.net"}, "queries"),  # object for list
        ("tcp_connect", {"ip": "1.2.3.4"}, "tcp_connect"),
        ("requests", "GET /", "requests"),
        ("telegram_tcp_blocking", "maybe", "telegram_tcp_blocking"),
    ],
)
def test_wrong_type_in_test_keys_is_a_note(key: str, value: Any, field: str) -> None:
    tk = {
        "tcp_connect": [
            {"ip": "157.240.1.1", "port": 443, "status": {"success": True, "failure": None}}
        ],
        key: value,
    }
    if key == "tcp_connect":
        tk = {key: value}
    m, notes = _ok({"test_name": "whatsapp", "report_id": "r", "test_keys": tk})
    assert m.report_id == "r"
    assert m.test_keys is not None
    assert getattr(m.test_keys, field) is None
    assert any(f"test_keys.{field}" in n for n in notes), notes
    if key != "tcp_connect":
        assert m.test_keys.tcp_connect is not None  # the good sibling survives
        assert m.test_keys.tcp_connect[0].ip == "157.240.1.1"


def test_wrong_types_deep_inside_lists() -> None:
    m, notes = _ok(
        {
            "test_name": "telegram",
            "test_keys": {
                "tcp_connect": [
                    {"ip": 149154175050, "port": "443", "status": {"success": "yes", "failure": 7}},
                    "garbage",
                    {
                        "ip": "149.154.167.51",
                        "port": 80,
                        "status": {"success": False, "failure": "generic_timeout_error"},
                    },
                ],
                "queries": [{"hostname": "web.telegram.org", "answers": {"ipv4": "1.1.1.1"}}],
            },
        }
    )
    assert m.test_keys is not None
    tcs = m.test_keys.tcp_connect
    assert tcs is not None
    assert [tc.ip for tc in tcs] == [None, "149.154.167.51"]
    assert tcs[0].port == 443  # "443" is read as a number (lax conversion)
    assert tcs[1].status is not None
    assert failure_str(tcs[1].status.failure) == "generic_timeout_error"
    assert m.test_keys.queries is not None
    assert m.test_keys.queries[0].answers is None
    assert any("tcp_connect[1]" in n for n in notes)
    assert any("queries[0].answers" in n for n in notes)


@pytest.mark.shared
@pytest.mark.parametrize(
    "top",
    [
        {"probe_cc": 42},
        {"probe_asn": 30722},
        {"probe_asn": 1.5},
        {"input": {"url": "x"}},
        {"annotations": ["a"]},
        {"test_keys": [1, 2]},
        {"test_version": 3},
        {"measurement_start_time": 1700000000},
        {"probe_asn": int("9" * 30)},
    ],
)
def test_wrong_top_level_types(samples: dict[str, dict[str, Any]], top: dict[str, Any]) -> None:
    m = {**samples["signal"], **top}
    raw = json.dumps(m).encode()
    decoded, _ = decode(raw)
    assert decoded.test_name == "signal"
    j = judge_bytes(raw)
    assert j.verdict.test_name == "signal"


class _OldMsgspecDecoder:
    """msgspec before 0.23: a stray byte raised ``UnicodeDecodeError``, not ``DecodeError``."""

    def __init__(self, inner: msgspec.json.Decoder[Any]) -> None:
        self.inner = inner

    def decode(self, raw: bytes) -> Any:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise  # what msgspec < 0.23 raised, before reading any further
        return self.inner.decode(raw)


@pytest.fixture(params=["msgspec-installed", "msgspec-before-0.23"])
def decoder_behaviour(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the installed decoder, then with one raising as older msgspec did."""
    if request.param != "msgspec-installed":
        from voipwatch.ooni import model

        monkeypatch.setattr(model, "_decoder", _OldMsgspecDecoder(model._decoder))
        monkeypatch.setattr(model, "_any_decoder", _OldMsgspecDecoder(model._any_decoder))
    return str(request.param)


def test_invalid_utf8_inside_a_string_is_repaired(decoder_behaviour: str) -> None:
    raw = b'{"test_name": "whatsapp", "probe_cc": "I\xff", "test_keys": {}}'
    m, notes = decode(raw)
    assert m.test_name == "whatsapp"
    assert m.probe_cc == "I\ufffd"
    assert notes == [f"invalid UTF-8 at byte {raw.index(0xFF)} replaced by U+FFFD"]


def test_invalid_utf8_after_a_wrongly_typed_field_is_repaired(decoder_behaviour: str) -> None:
    raw = b'{"test_name": "whatsapp", "test_runtime": "x", "probe_cc": "I\xff", "test_keys": {}}'
    m, notes = decode(raw)
    assert m.test_name == "whatsapp"
    assert m.probe_cc == "I\ufffd"
    assert any("invalid UTF-8 at byte" in n for n in notes)


def test_invalid_utf8_outside_a_string_is_invalid_json(decoder_behaviour: str) -> None:
    with pytest.raises(InputError, match="invalid JSON"):
        decode(b'{"test_name": "whatsapp", \xff "test_keys": {}}')


def test_utf16_is_read_leniently_not_repaired(decoder_behaviour: str) -> None:
    raw = '{"test_name": "whatsapp", "test_keys": {}}'.encode("utf-16")
    m, notes = decode(raw)
    assert m.test_name == "whatsapp"
    assert not any("replaced by U+FFFD" in n for n in notes)


def test_huge_numbers_and_inf() -> None:
    m, _ = decode(b'{"test_name": "x", "test_runtime": 1e999, "probe_asn": 1e999}')
    assert m.test_name == "x"


def test_nan_and_infinity_literals() -> None:
    """Python's json writes NaN / Infinity; legacy Python probes may have too."""
    raw = (
        b'{"test_name": "whatsapp", "test_runtime": NaN,'
        b' "test_keys": {"tcp_connect": [{"ip": "1.2.3.4", "port": Infinity}]}}'
    )
    m, notes = decode(raw)
    assert m.test_name == "whatsapp"
    assert m.test_keys is not None
    assert m.test_keys.tcp_connect is not None
    assert m.test_keys.tcp_connect[0].ip == "1.2.3.4"
    assert any("NaN" in n for n in notes)
    with pytest.raises(NotAMeasurement):
        decode(b"[NaN]")


# --- not measurements ---------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [b"[1,2]", b'"x"', b"{}", b'{"a":1}', b"null", b"1", b"true", b'{"test_name": null}']
)
def test_json_that_is_not_a_measurement(raw: bytes) -> None:
    with pytest.raises(NotAMeasurement) as e:
        decode(raw, source="f.jsonl", line=7)
    assert str(e.value).startswith("f.jsonl:7: ")


@pytest.mark.parametrize(
    "raw", [b"", b"{", b'{"test_name": "x",', b"\xff\xfe", b"nope", b"[" * 100_000, b"{}}"]
)
def test_bytes_that_are_not_json(raw: bytes) -> None:
    with pytest.raises(InputError) as e:
        decode(raw, source="f.jsonl", line=3)
    assert not isinstance(e.value, NotAMeasurement)
    assert "f.jsonl:3: invalid JSON" in str(e.value)


def test_failure_str() -> None:
    assert failure_str(None) is None
    assert failure_str(False) is None
    assert failure_str("") is None
    assert failure_str(True) == "unknown_failure"
    assert failure_str("connection_reset") == "connection_reset"
    assert failure_str(7) == "7"


# --- fuzz: any JSON at any declared place -------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_TOP = [f.encode_name for f in msgspec.structs.fields(Measurement)]
_TK = [f.encode_name for f in msgspec.structs.fields(TestKeys)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    top=st.dictionaries(st.sampled_from(_TOP), _json, max_size=4),
    tk=st.dictionaries(st.sampled_from(_TK), _json, max_size=6),
    entry=st.dictionaries(
        st.sampled_from(
            ["ip", "port", "status", "failure", "answers", "request", "response", "hostname"]
        ),
        _json,
        max_size=4,
    ),
)
def test_fuzz_decode_and_judge_never_crash(
    top: dict[str, Any], tk: dict[str, Any], entry: dict[str, Any]
) -> None:
    tk = {**tk, "tcp_connect": [entry], "queries": [entry], "requests": [entry]}
    for name in (*IM_TESTS, "web_connectivity"):
        doc = {**top, "test_name": name, "test_keys": tk}
        raw = json.dumps(doc).encode()
        try:
            m, _ = decode(raw)
        except NotAMeasurement:
            continue
        assert isinstance(m, Measurement)
        judge_bytes(raw)
