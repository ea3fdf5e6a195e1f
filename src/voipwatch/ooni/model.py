"""Typed, selective views of an OONI measurement.

Only the fields the verdict rules read are declared; msgspec skips everything else
(``network_events``, certificate chains, request bodies) without building objects, which
is what makes judging cheaper than a full ``json.loads``.

Spec: https://github.com/ooni/spec/blob/master/data-formats/df-000-base.md and the
templates df-001-httpt, df-002-dnst, df-005-tcpconnect, df-006-tlshandshake. "Data
consumers MUST be prepared for any field being null or missing": every field is
optional, and :func:`decode` falls back to a field-by-field tolerant reading when a
value has the wrong type, so one odd field costs a note, never the measurement.
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any

import msgspec

from voipwatch.errors import InputError, NotAMeasurement

# Legacy probes (ooniprobe 2.x / MK) write ``false`` where a failure string is
# expected; a few write numbers where strings belong. ``Failure`` accepts them and
# :func:`failure_str` normalises.
Failure = str | bool | None
_B = bool | None


class Answer(msgspec.Struct, gc=False):
    """df-002-dnst answer."""

    answer_type: str | None = None
    ipv4: str | None = None
    ipv6: str | None = None
    hostname: str | None = None
    asn: int | None = None


class Query(msgspec.Struct, gc=False):
    """df-002-dnst query."""

    hostname: str | None = None
    query_type: str | None = None
    engine: str | None = None
    resolver_address: str | None = None
    failure: Failure = None
    answers: list[Answer] | None = None
    # Template entries written by voipwatch's probe say what they are (``tags``:
    # system / udp / control) and when they were retried (``attempt``); a UDP query
    # that drew several responses is one entry per response, with each packet's IP TTL.
    tags: list[str] | None = None
    transaction_id: int | None = None
    x_ip_ttl: int | None = None


class TCPStatus(msgspec.Struct, gc=False):
    success: bool | None = None
    failure: Failure = None
    blocked: bool | None = None


class TCPConnect(msgspec.Struct, gc=False):
    """df-005-tcpconnect entry."""

    ip: str | None = None
    port: int | None = None
    status: TCPStatus | None = None
    tags: list[str] | None = None
    attempt: int | None = None


class TLSHandshake(msgspec.Struct, gc=False):
    """df-006-tlshandshake entry."""

    address: str | None = None
    server_name: str | None = None
    failure: Failure = None
    no_tls_verify: bool | None = None
    tags: list[str] | None = None
    attempt: int | None = None


class Request(msgspec.Struct, gc=False):
    url: str | None = None
    method: str | None = None


class Response(msgspec.Struct, gc=False):
    code: int | None = None
    # Matched against the block-page fingerprints: ``MaybeBinaryData`` (a string or
    # ``{"format": "base64", "data": …}``) and a map of headers. Kept as raw JSON and
    # decoded only when a fingerprint is sought: most bodies are never looked at.
    body: msgspec.Raw = msgspec.Raw()
    headers: msgspec.Raw = msgspec.Raw()


class Transaction(msgspec.Struct, gc=False):
    """df-001-httpt transaction.

    Response bodies and headers are read so that block pages can be recognised by
    their fingerprints (:mod:`voipwatch.ooni.fingerprints`).
    """

    failure: Failure = None
    request: Request | None = None
    response: Response | None = None
    address: str | None = None
    tags: list[str] | None = None
    attempt: int | None = None


class Exchange(msgspec.Struct, gc=False):
    """One call-plane exchange of voipwatch's probe (``x_exchanges``).

    A STUN binding, TURN allocate, SIP OPTIONS or plain payload sent to an app's
    server, a public server or the test helper; ``control`` says which variable the
    exchange isolates (a random port, another payload on the same port). The probe
    builds its entries as this type and writes them with :func:`exchange_entry`, so
    what it writes and what the rules read are one shape.
    """

    role: str | None = None
    target: str | None = None
    host: str | None = None
    address: str | None = None
    port: int | None = None
    transport: str | None = None
    payload: str | None = None
    control: str | None = None
    success: bool | None = None
    failure: Failure = None
    reply: str | None = None
    rtt: float | None = None
    bytes_sent: int | None = None
    bytes_received: int | None = None
    attempt: int | None = None
    #: When the exchange started and ended (the probe's clock, seconds from its start).
    t0: float | None = None
    t: float | None = None
    #: Who sent the ICMP error of a refused UDP exchange: ``target`` or ``path``.
    rejected_by: str | None = None


def exchange_entry(e: Exchange) -> dict[str, object]:
    """``e`` as its ``x_exchanges`` entry: every field (null when unknown), except
    ``rejected_by``, written only for a refused exchange."""
    entry: dict[str, object] = msgspec.structs.asdict(e)
    if e.rejected_by is None:
        del entry["rejected_by"]
    return entry


class StreamStats(msgspec.Struct, gc=False):
    sent: int | None = None
    received: int | None = None
    loss: float | None = None
    jitter_ms: float | None = None
    throughput_kbps: float | None = None


class MediaAB(msgspec.Struct, gc=False):
    """``x_media_ab``: an RTP-shaped stream against the same bytes bit-inverted."""

    original: StreamStats | None = None
    inverted: StreamStats | None = None
    area: float | None = None
    ks_p: float | None = None
    differentiation: str | None = None


class Download(msgspec.Struct, gc=False):
    bytes: int | None = None
    seconds: float | None = None
    rate_kbps: float | None = None
    failure: Failure = None


class ThroughputPair(msgspec.Struct, gc=False):
    """The A/B made again (``x_throughput_ab.again``), the app's name first this time."""

    target: Download | None = None
    control: Download | None = None
    ratio: float | None = None


class ThroughputAB(msgspec.Struct, gc=False):
    """``x_throughput_ab``: a download with an app's server name against a harmless one,
    made ``again`` when the app's name was much slower (measurements from before the
    probe did so have one pair)."""

    target_sni: str | None = None
    control_sni: str | None = None
    target: Download | None = None
    control: Download | None = None
    ratio: float | None = None
    again: ThroughputPair | None = None


class ResidualStep(msgspec.Struct, gc=False):
    """One flow of the residual check: ``before``, ``trigger``, ``after``, ``other``, ``late``."""

    step: str | None = None
    payload: str | None = None
    port: int | None = None
    success: bool | None = None
    failure: Failure = None


class Residual(msgspec.Struct, gc=False):
    """``x_residual``: innocent flows on one 3-tuple before and after a trigger."""

    address: str | None = None
    trigger: str | None = None
    wait: float | None = None
    steps: list[ResidualStep] | None = None


class ControlResult(msgspec.Struct, gc=False):
    """One measurement by the control helper, from outside the censored network."""

    success: bool | None = None
    failure: Failure = None
    addrs: list[str] | None = None


class Control(msgspec.Struct, gc=False):
    """``x_control``: what voipwatch's control helper saw of the same targets.

    Keys are ``"ip:port"`` (tcp_connect), ``"ip:port sni"`` (tls) and host names (dns),
    like OONI web_connectivity's ``control``.
    """

    tcp_connect: dict[str, ControlResult] | None = None
    tls: dict[str, ControlResult] | None = None
    dns: dict[str, ControlResult] | None = None
    #: ``"ip:port"``: a STUN binding from outside (the call plane's servers).
    stun: dict[str, ControlResult] | None = None


class TorTarget(msgspec.Struct, gc=False):
    """One target of OONI's ``tor`` test (ts-023): a relay, authority or bridge.

    ``failure`` keeps OONI's three meanings: ``None`` worked, ``False`` did not run,
    a string failed (dir_port failures read ``"Get http://…: eof_error"``).
    """

    failure: Failure = None
    target_protocol: str | None = None
    target_address: str | None = None
    target_name: str | None = None
    tcp_connect: list[TCPConnect] | None = None
    tls_handshakes: list[TLSHandshake] | None = None


# Facebook Messenger keys, in both spellings (``facebook-…`` up to test_version 0.3.0).
FB_ENDPOINTS = ("b_api", "b_graph", "edge", "external_cdn", "scontent_cdn", "star", "stun")


def _legacy(name: str) -> Any:
    return msgspec.field(default=None, name=name)


class MtprotoAnswer(msgspec.Struct, gc=False):
    """``x_mtproto``: an unauthenticated ``req_pq_multi`` to a Telegram data centre."""

    address: str | None = None
    connected: bool | None = None
    failure: Failure = None
    detail: str | None = None


class AcceptAll(msgspec.Struct, gc=False):
    """``x_accept_all``: a connect to a port nothing serves (did the network answer?)."""

    address: str | None = None
    connected: bool | None = None
    failure: Failure = None


class TestKeys(msgspec.Struct, gc=False):
    """The ``test_keys`` of the tests voipwatch judges (only the keys rules read)."""

    __test__ = False  # not a pytest test class, despite the name

    # urlgetter-style common keys
    # Absent (UNSET) differs from null here: OONI's fastpath counts a missing
    # failure/failed_operation in a Signal measurement as a failed run.
    failure: Failure | msgspec.UnsetType = msgspec.UNSET
    failed_operation: str | msgspec.UnsetType | None = msgspec.UNSET
    queries: list[Query] | None = None
    tcp_connect: list[TCPConnect] | None = None
    tls_handshakes: list[TLSHandshake] | None = None
    requests: list[Transaction] | None = None
    x_control: Control | None = None
    x_control_failure: str | None = None
    # voipwatch's own answers beside the OONI keys: the app's answer, the accept-all check
    x_mtproto: list[MtprotoAnswer] | None = None
    x_accept_all: AcceptAll | None = None
    # voipwatch_call (the call plane)
    x_exchanges: list[Exchange] | None = None
    #: ``transport/port`` of the test helper its own host refused during the run.
    x_helper_closed: list[str] | None = None
    x_media_ab: MediaAB | None = None
    x_throughput_ab: ThroughputAB | None = None
    x_residual: Residual | None = None
    # circumvention tools: psiphon (ts-015), vanilla_tor (ts-016), tor (ts-023),
    # riseupvpn (ts-026), torsf (ts-030), openvpn (ts-040)
    bootstrap_time: float | None = None
    success: bool | None = None
    tor_progress: float | None = None
    tor_progress_tag: str | None = None
    tor_progress_summary: str | None = None
    tor_logs: list[str] | None = None
    transport_name: str | None = None
    #: A map of target id → target since test_version 0.1.0; a list before (unscored).
    targets: dict[str, TorTarget] | list[Any] | None = None
    api_status: str | None = None
    api_failure: Failure = None
    ca_cert_status: bool | None = None
    failing_gateways: list[Any] | None = None
    transport_status: dict[str, str] | None = None
    provider: str | None = None
    remote: str | None = None
    obfuscation: str | None = None
    success_handshake: bool | None = None
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
    accessible: bool | msgspec.UnsetType | None = msgspec.UNSET
    dns_experiment_failure: Failure = None
    http_experiment_failure: Failure = None
    control_failure: Failure = None
    dns_consistency: str | None = None
    # facebook_messenger (ts-019). decode() copies the legacy spelling into these.
    facebook_b_api_dns_consistent: _B = None
    facebook_b_api_reachable: _B = None
    facebook_b_graph_dns_consistent: _B = None
    facebook_b_graph_reachable: _B = None
    facebook_edge_dns_consistent: _B = None
    facebook_edge_reachable: _B = None
    facebook_external_cdn_dns_consistent: _B = None
    facebook_external_cdn_reachable: _B = None
    facebook_scontent_cdn_dns_consistent: _B = None
    facebook_scontent_cdn_reachable: _B = None
    facebook_star_dns_consistent: _B = None
    facebook_star_reachable: _B = None
    facebook_stun_dns_consistent: _B = None
    facebook_stun_reachable: _B = None
    facebook_dns_blocking: _B = None
    facebook_tcp_blocking: _B = None
    # ... and as written by test_version <= 0.3.0.
    legacy_facebook_b_api_dns_consistent: _B = _legacy("facebook-b-api-dns-consistent")
    legacy_facebook_b_api_reachable: _B = _legacy("facebook-b-api-reachable")
    legacy_facebook_b_graph_dns_consistent: _B = _legacy("facebook-b-graph-dns-consistent")
    legacy_facebook_b_graph_reachable: _B = _legacy("facebook-b-graph-reachable")
    legacy_facebook_edge_dns_consistent: _B = _legacy("facebook-edge-dns-consistent")
    legacy_facebook_edge_reachable: _B = _legacy("facebook-edge-reachable")
    legacy_facebook_external_cdn_dns_consistent: _B = _legacy(
        "facebook-external-cdn-dns-consistent"
    )
    legacy_facebook_external_cdn_reachable: _B = _legacy("facebook-external-cdn-reachable")
    legacy_facebook_scontent_cdn_dns_consistent: _B = _legacy(
        "facebook-scontent-cdn-dns-consistent"
    )
    legacy_facebook_scontent_cdn_reachable: _B = _legacy("facebook-scontent-cdn-reachable")
    legacy_facebook_star_dns_consistent: _B = _legacy("facebook-star-dns-consistent")
    legacy_facebook_star_reachable: _B = _legacy("facebook-star-reachable")
    legacy_facebook_stun_dns_consistent: _B = _legacy("facebook-stun-dns-consistent")
    legacy_facebook_stun_reachable: _B = _legacy("facebook-stun-reachable")
    legacy_facebook_dns_blocking: _B = _legacy("facebook-dns-blocking")
    legacy_facebook_tcp_blocking: _B = _legacy("facebook-tcp-blocking")


#: (canonical attribute, legacy attribute) pairs for the Facebook Messenger keys.
FB_KEYS: tuple[tuple[str, str], ...] = tuple(
    (f"facebook_{k}", f"legacy_facebook_{k}")
    for k in (
        *(f"{ep}_{kind}" for ep in FB_ENDPOINTS for kind in ("dns_consistent", "reachable")),
        "dns_blocking",
        "tcp_blocking",
    )
)


class Annotations(msgspec.Struct, gc=False):
    engine_version: str | None = None
    engine_name: str | None = None
    platform: str | None = None
    # Set by voipwatch's probe in a simulated world: address ranges that are real
    # destinations there (not bogons), comma-separated as annotations are strings.
    voipwatch_routable: str | None = None


class Measurement(msgspec.Struct, gc=False):
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
    test_keys: TestKeys | None = None


_decoder = msgspec.json.Decoder(Measurement)
# Untyped decoding for the tolerant path. ``float_hook`` turns out-of-range floats
# (1e999) into inf instead of failing the whole record.
_any_decoder = msgspec.json.Decoder(float_hook=float)


def failure_str(f: Failure | int | float | msgspec.UnsetType) -> str | None:
    """Normalise a failure value: absent, ``None``, ``False`` or ``""`` mean no failure."""
    if f is None or f is False or f is msgspec.UNSET or f == "":
        return None
    if f is True:
        return "unknown_failure"
    return str(f)


def decode(raw: bytes, *, source: str = "", line: int = 0) -> tuple[Measurement, list[str]]:
    """Decode ``raw`` into a :class:`Measurement`; return it with notes on repairs.

    Raises :class:`InputError` for bytes that are not JSON and
    :class:`NotAMeasurement` for JSON that is not a measurement object. Any other
    oddity (wrong types, nulls, missing keys, invalid UTF-8 inside strings) yields a
    measurement and a note saying what was ignored or repaired.
    """
    notes: list[str] = []
    try:
        m = _decoder.decode(raw)
    except msgspec.ValidationError:
        m = _decode_tolerant(raw, source, line, notes)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        # msgspec < 0.23 raises UnicodeDecodeError on a stray byte, 0.23 a plain
        # DecodeError; ask the bytes themselves rather than trust either.
        bad = invalid_utf8_at(raw)
        repaired = None if bad is None else _decode_repaired(raw, bad, source, line, notes)
        # Bytes that are not UTF-8 at all (UTF-16, say) are not repaired but read
        # leniently.
        m = repaired or _decode_lenient(raw, source, line, notes, exc)
    except RecursionError:
        raise InputError(
            "invalid JSON: nested too deeply to read", source=source, line=line
        ) from None
    if m.test_name is None and m.test_keys is None:
        raise NotAMeasurement(
            "JSON object has neither test_name nor test_keys: not an OONI measurement",
            source=source,
            line=line,
        )
    tk = m.test_keys
    if tk is not None and m.test_name == "facebook_messenger":
        _merge_legacy_fb(tk)
    return m, notes


def invalid_utf8_at(raw: bytes) -> int | None:
    """The offset of the first byte of ``raw`` that is not valid UTF-8, or ``None``."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _decode_repaired(
    raw: bytes, bad: int, source: str, line: int, notes: list[str]
) -> Measurement | None:
    """Bytes with invalid UTF-8: replace each bad byte by U+FFFD and decode again.

    OONI data is UTF-8; a stray byte (legacy probes, a bad copy) should cost that
    string, not the measurement. ``None`` when the repaired bytes are no JSON either.
    """
    fixed = raw.decode("utf-8", "replace").encode("utf-8")
    mine = [f"invalid UTF-8 at byte {bad} replaced by U+FFFD"]
    try:
        m = _decoder.decode(fixed)
    except msgspec.ValidationError:
        m = _decode_tolerant(fixed, source, line, mine)
    except (msgspec.DecodeError, RecursionError):
        return None
    notes.extend(mine)
    return m


def _decode_lenient(
    raw: bytes, source: str, line: int, notes: list[str], error: Exception
) -> Measurement:
    """Bytes msgspec rejects: NaN / Infinity (Python's ``json`` writes them), else bad.

    The standard library reads those literals; anything it cannot read either is
    reported with msgspec's (clearer) message.
    """
    try:
        obj = _std_loads(raw, notes)
    except (ValueError, RecursionError):
        raise InputError(f"invalid JSON: {error}", source=source, line=line) from None
    if not isinstance(obj, dict):
        raise NotAMeasurement(
            f"JSON {_json_kind(obj)} is not a measurement object", source=source, line=line
        )
    notes.append("non-standard JSON (NaN, Infinity, UTF-16 or lone surrogates) read leniently")
    m = _tolerant(obj, Measurement, "", notes)
    assert isinstance(m, Measurement)
    return m


def _merge_legacy_fb(tk: TestKeys) -> None:
    """Fill the ``facebook_*`` keys from their ``facebook-*`` spelling, when absent."""
    for new, old in FB_KEYS:
        v = getattr(tk, old)
        if v is not None and getattr(tk, new) is None:
            setattr(tk, new, v)


def _decode_tolerant(raw: bytes, source: str, line: int, notes: list[str]) -> Measurement:
    """The slow path: decode untyped, then convert field by field."""
    try:
        obj = _any_decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        bad = None if isinstance(exc, RecursionError) else invalid_utf8_at(raw)
        if bad is not None:
            # The typed decode stopped at a wrongly typed field before reaching a
            # stray byte that this full read meets: repair the bytes as decode() does.
            notes.append(f"invalid UTF-8 at byte {bad} replaced by U+FFFD")
            fixed = raw.decode("utf-8", "replace").encode("utf-8")
            return _decode_tolerant(fixed, source, line, notes)
        # msgspec refuses integers beyond 64 bits even where they are skipped later;
        # the standard library reads them (as floats here), so try it before giving up.
        try:
            obj = _std_loads(raw, notes)
        except (ValueError, RecursionError):
            why = "nested too deeply to read" if isinstance(exc, RecursionError) else exc
            raise InputError(f"invalid JSON: {why}", source=source, line=line) from None
    if not isinstance(obj, dict):
        raise NotAMeasurement(
            f"JSON {_json_kind(obj)} is not a measurement object", source=source, line=line
        )
    m = _tolerant(obj, Measurement, "", notes)
    assert isinstance(m, Measurement)
    return m


_SURROGATE = re.compile("[\ud800-\udfff]")


def _std_loads(raw: bytes, notes: list[str]) -> Any:
    """Read ``raw`` with the standard library, which msgspec's strictness sends here.

    It accepts what msgspec refuses: NaN / Infinity literals, integers beyond 64 bits,
    UTF-16 / UTF-32 text and ``\\ud800``-style escapes of lone surrogates. Those
    surrogates cannot be encoded as UTF-8 (so no verdict or store row could hold
    them): each is replaced by U+FFFD. Raises ``ValueError`` or ``RecursionError``.
    """
    obj = json.loads(raw, parse_int=_int_or_float)
    fixed = [0]
    obj = _without_surrogates(obj, fixed)
    if fixed[0]:
        notes.append(f"{fixed[0]} string(s) with lone surrogates: replaced by U+FFFD")
    return obj


def _without_surrogates(v: Any, fixed: list[int]) -> Any:
    if isinstance(v, str):
        if _SURROGATE.search(v) is None:
            return v
        fixed[0] += 1
        return v.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(v, list):
        return [_without_surrogates(x, fixed) for x in v]
    if isinstance(v, dict):
        return {_without_surrogates(k, fixed): _without_surrogates(x, fixed) for k, x in v.items()}
    return v


def _int_or_float(digits: str) -> int | float:
    n = float(digits)
    return int(digits) if abs(n) < 2**63 else n


def _json_kind(v: Any) -> str:
    return {list: "array", str: "string", dict: "object", bool: "boolean"}.get(
        type(v), "number" if isinstance(v, int | float) else "null"
    )


_BAD = object()


def _tolerant(value: Any, typ: Any, path: str, notes: list[str]) -> Any:
    """Convert ``value`` to ``typ``, replacing wrongly typed parts by their defaults.

    Returns ``_BAD`` when ``value`` cannot be a ``typ`` at all (the caller drops it
    and notes where).
    """
    if typ is msgspec.Raw:
        return msgspec.Raw(msgspec.json.encode(value))
    try:
        return msgspec.convert(value, typ, strict=False)
    except msgspec.ValidationError:
        pass
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(typ)
        for member in members:
            if member is type(None):
                continue
            r = _tolerant(value, member, path, notes)
            if r is not _BAD:
                return r
        return _BAD
    if origin is list:
        if not isinstance(value, list):
            return _BAD
        (item_t,) = typing.get_args(typ)
        out = []
        for i, item in enumerate(value):
            where = f"{path}[{i}]"
            r = _tolerant(item, item_t, where, notes)
            if r is _BAD:
                notes.append(f"ignored {where}: unexpected {_json_kind(item)}")
            elif r is not None:
                out.append(r)
        return out
    if isinstance(typ, type) and issubclass(typ, msgspec.Struct):
        if not isinstance(value, dict):
            return _BAD
        kwargs: dict[str, Any] = {}
        for f in msgspec.structs.fields(typ):
            if f.encode_name not in value:
                continue
            where = f"{path}.{f.encode_name}" if path else f.encode_name
            v = value[f.encode_name]
            r = _tolerant(v, f.type, where, notes)
            if r is _BAD:
                notes.append(f"ignored {where}: unexpected {_json_kind(v)}")
                continue
            kwargs[f.name] = r
        return typ(**kwargs)
    return _BAD
