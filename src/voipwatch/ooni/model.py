"""Typed, selective views of an OONI measurement.

Only the fields the verdict rules read are declared; msgspec skips everything else
(``network_events``, certificate chains, HTTP bodies) without building objects, which
is what makes judging cheaper than a full ``json.loads``.

Spec: https://github.com/ooni/spec/blob/master/data-formats/df-000-base.md and the
templates df-001-httpt, df-002-dnst, df-005-tcpconnect, df-006-tlshandshake. "Data
consumers MUST be prepared for any field being null or missing": every field is
optional, and :func:`decode` falls back to a field-by-field tolerant reading when a
value has the wrong type.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import msgspec

from voipwatch.errors import InputError, NotAMeasurement

# Legacy probes (ooniprobe 2.x / MK) write ``false`` where a failure string is
# expected; a few write numbers where strings belong. ``Failure`` accepts them and
# :func:`failure_str` normalises.
Failure = str | bool | None


class Answer(msgspec.Struct):
    """df-002-dnst answer."""

    answer_type: str | None = None
    ipv4: str | None = None
    ipv6: str | None = None
    hostname: str | None = None
    asn: int | None = None


class Query(msgspec.Struct):
    """df-002-dnst query."""

    hostname: str | None = None
    query_type: str | None = None
    engine: str | None = None
    resolver_address: str | None = None
    failure: Failure = None
    answers: list[Answer] | None = None


class TCPStatus(msgspec.Struct):
    success: bool | None = None
    failure: Failure = None
    blocked: bool | None = None


class TCPConnect(msgspec.Struct):
    """df-005-tcpconnect entry."""

    ip: str | None = None
    port: int | None = None
    status: TCPStatus | None = None


class TLSHandshake(msgspec.Struct):
    """df-006-tlshandshake entry."""

    address: str | None = None
    server_name: str | None = None
    failure: Failure = None
    no_tls_verify: bool | None = None


class Request(msgspec.Struct):
    url: str | None = None
    method: str | None = None


class Response(msgspec.Struct):
    code: int | None = None


class Transaction(msgspec.Struct):
    """df-001-httpt transaction (bodies are deliberately not decoded)."""

    failure: Failure = None
    request: Request | None = None
    response: Response | None = None


# Facebook Messenger keys, in both spellings (``facebook-…`` up to test_version 0.3.0).
FB_ENDPOINTS = ("b_api", "b_graph", "edge", "external_cdn", "scontent_cdn", "star", "stun")


def _fb_fields() -> list[tuple[str, Any, Any]]:
    out: list[tuple[str, Any, Any]] = []
    for ep in FB_ENDPOINTS:
        for kind in ("dns_consistent", "reachable"):
            key = f"facebook_{ep}_{kind}"
            out.append((key, bool | None, None))
            out.append(
                (f"legacy_{key}", bool | None, msgspec.field(default=None, name=key.replace("_", "-")))
            )
    for key in ("facebook_dns_blocking", "facebook_tcp_blocking"):
        out.append((key, bool | None, None))
        out.append((f"legacy_{key}", bool | None,
                    msgspec.field(default=None, name=key.replace("_", "-"))))
    return out


class _TestKeysBase(msgspec.Struct):
    # urlgetter-style common keys
    failure: Failure = None
    failed_operation: str | None = None
    queries: list[Query] | None = None
    tcp_connect: list[TCPConnect] | None = None
    tls_handshakes: list[TLSHandshake] | None = None
    requests: list[Transaction] | None = None
    # whatsapp (ts-018)
    whatsapp_endpoints_status: str | None = None
    whatsapp_web_status: str | None = None
    whatsapp_web_failure: Failure = None
    registration_server_status: str | None = None
    registration_server_failure: Failure = None
    # telegram (ts-020)
    telegram_http_blocking: bool | None = None
    telegram_tcp_blocking: bool | None = None
    telegram_web_status: str | None = None
    telegram_web_failure: Failure = None
    # signal (ts-029)
    signal_backend_status: str | None = None
    signal_backend_failure: Failure = None
    # stunreachability (ts-025)
    endpoint: str | None = None
    # web_connectivity (ts-017)
    blocking: str | bool | None = None
    accessible: bool | None = None
    dns_experiment_failure: Failure = None
    http_experiment_failure: Failure = None
    control_failure: Failure = None
    dns_consistency: str | None = None


TestKeys: type[_TestKeysBase] = msgspec.defstruct(  # type: ignore[assignment]
    "TestKeys", _fb_fields(), bases=(_TestKeysBase,)
)


class Annotations(msgspec.Struct):
    engine_version: str | None = None
    engine_name: str | None = None
    platform: str | None = None


class Measurement(msgspec.Struct):
    """df-000-base: the fields voipwatch reads."""

    test_name: str | None = None
    test_version: str | None = None
    measurement_uid: str | None = None
    report_id: str | None = None
    input: str | list[Any] | None = None
    measurement_start_time: str | None = None
    test_start_time: str | None = None
    probe_cc: str | None = None
    probe_asn: str | int | None = None
    software_name: str | None = None
    software_version: str | None = None
    annotations: Annotations | None = None
    test_keys: _TestKeysBase | None = msgspec.field(default=None)


# Re-declare test_keys with the generated type so decoding fills the FB keys too.
Measurement = msgspec.defstruct(  # type: ignore[misc]
    "Measurement",
    [("test_keys", TestKeys | None, None)],  # type: ignore[operator]
    bases=(Measurement,),
)

_decoder = msgspec.json.Decoder(Measurement)


def failure_str(f: Failure | int | float) -> str | None:
    """Normalise a failure value: ``None``/``False``/``""`` mean no failure."""
    if f is None or f is False or f == "":
        return None
    if f is True:
        return "unknown_failure"
    return str(f)


def decode(raw: bytes, *, source: str = "", line: int = 0) -> tuple[Any, list[str]]:
    """Decode ``raw`` into a :class:`Measurement`; return it with notes on repairs.

    Raises :class:`InputError` for bytes that are not JSON and
    :class:`NotAMeasurement` for JSON that is not a measurement object.
    """
    try:
        m = _decoder.decode(raw)
        notes: list[str] = []
    except msgspec.ValidationError:
        try:
            obj = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:  # pragma: no cover - ValidationError came first
            raise InputError(f"invalid JSON: {exc}", source=source, line=line) from None
        if not isinstance(obj, dict):
            raise NotAMeasurement(
                f"JSON {type(obj).__name__} is not a measurement object", source=source, line=line
            ) from None
        notes = []
        m = _tolerant(obj, Measurement, "", notes)
    except msgspec.DecodeError as exc:
        raise InputError(f"invalid JSON: {exc}", source=source, line=line) from None
    if m.test_name is None and m.test_keys is None:
        raise NotAMeasurement(
            "JSON object has neither test_name nor test_keys: not an OONI measurement",
            source=source,
            line=line,
        )
    return m, notes


_BAD = object()


def _tolerant(value: Any, typ: Any, path: str, notes: list[str]) -> Any:
    """Convert ``value`` to ``typ``, replacing wrongly typed parts by their defaults."""
    try:
        return msgspec.convert(value, typ, strict=False)
    except msgspec.ValidationError:
        pass
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        for member in typing.get_args(typ):
            if member is type(None):
                continue
            r = _tolerant(value, member, path, notes)
            if r is not _BAD:
                return r
        notes.append(f"ignored {path or 'value'}: unexpected {type(value).__name__}")
        return None if type(None) in typing.get_args(typ) else _BAD
    if origin is list:
        if not isinstance(value, list):
            return _BAD
        (item_t,) = typing.get_args(typ)
        out = []
        for i, item in enumerate(value):
            r = _tolerant(item, item_t, f"{path}[{i}]", notes)
            if r is not _BAD and r is not None:
                out.append(r)
        return out
    if isinstance(typ, type) and issubclass(typ, msgspec.Struct):
        if not isinstance(value, dict):
            return _BAD
        kwargs: dict[str, Any] = {}
        for f in msgspec.structs.fields(typ):
            if f.encode_name not in value:
                continue
            r = _tolerant(value[f.encode_name], f.type, f"{path}.{f.encode_name}".lstrip("."), notes)
            if r is _BAD:
                notes.append(f"ignored {path}.{f.encode_name}".replace(" .", " "))
                continue
            kwargs[f.name] = r
        return typ(**kwargs)
    return _BAD
