"""The call plane on loopback: the test helpers, no amplification, the probe's exchanges,
media and throughput A/B, privacy, and ``voipwatch probe --plane media``."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.helper import echo, serve
from voipwatch.helper import sip as helper_sip
from voipwatch.probe import media, run, sip, stun, udp
from voipwatch.probe.config import HelperConfig, ProbeConfig, Resolvers, parse_config
from voipwatch.probe.experiments.calls import sample_ports
from voipwatch.testing import DnsServer, loopback_ip

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="binds ports 80/443/5222 on loopback addresses (root)"
)

#: The probe's sockets are bound here, so a leaked client address is easy to find.
CLIENT = "127.0.0.2"
TLS_PORT = 8443
UDP_PORTS = [3478, 3479, 3480, 3481, 5004, 8801, 8802, 8803, 8804, 16384, 42424, 42425, 42426]


# -- fixtures -------------------------------------------------------------------------


class Loop:
    """An asyncio loop in a thread, for servers the (synchronous) tests talk to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class Helpers:
    ip: str
    app_ip: str
    running: serve.Running
    app_running: serve.Running
    dns: DnsServer


@pytest.fixture(scope="module")
def helpers() -> Iterator[Helpers]:
    loop = Loop()
    ip, app_ip = loopback_ip(), loopback_ip()
    ports = UDP_PORTS + ([443] if os.geteuid() == 0 else [])
    running = loop.call(
        serve.start(serve.Settings(host=ip, udp_ports=ports, tls_port=TLS_PORT, control_port=0))
    )
    # Stands in for an app's own STUN/TURN server (Signal's TURN, Messenger's STUN).
    app_running = loop.call(
        serve.start(
            serve.Settings(
                host=app_ip, udp_ports=ports, tls_port=TLS_PORT, sip_port=0, sips_port=0,
                control_port=0,
            )
        )
    )  # fmt: skip
    dns = DnsServer(
        loopback_ip(), {"turn3.voip.signal.org": [app_ip], "stun.fbsbx.com": [app_ip]}, 0
    )
    yield Helpers(ip, app_ip, running, app_running, dns)
    dns.close()
    loop.call(_close(running, app_running))
    loop.close()


async def _close(*rs: serve.Running) -> None:
    for r in rs:
        r.close()


def probe_config(h: Helpers, **helper: Any) -> ProbeConfig:
    fields: dict[str, Any] = {
        "address": h.ip,
        "stun_servers": [f"{h.app_ip}:3478", f"{h.app_ip}:3999"],
        "media_seconds": 2.0,
        "throughput_bytes": 1_000_000,
        "tls_port": TLS_PORT,
        "residual": True,
        "residual_wait": 0.2,
    }
    fields.update(helper)
    return ProbeConfig(
        source_address=CLIENT,
        resolvers=Resolvers(system=False, udp=[h.dns.address], doh=[], dot=[]),
        helper=HelperConfig(**fields),
    )


def ask_udp(ip: str, port: int, data: bytes, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((CLIENT, 0))
        s.settimeout(timeout)
        s.sendto(data, (ip, port))
        try:
            return s.recv(4096)
        except TimeoutError:
            return None


# -- wire formats (pure) ------------------------------------------------------------------


def test_stun_requests_are_padded_and_answers_parse() -> None:
    tid = stun.new_transaction_id()
    req = stun.binding_request(tid)
    assert len(req) == stun.BINDING_SIZE
    assert req[:2] == b"\x00\x01"
    assert stun.parse(req) is not None
    assert len(stun.allocate_request()) == stun.ALLOCATE_SIZE
    success = stun.encode(
        stun.BINDING_SUCCESS,
        tid,
        [(stun.ATTR_XOR_MAPPED_ADDRESS, stun.xor_address("203.0.113.7", 40000, tid))],
    )
    assert stun.classify_reply(stun.BINDING_REQUEST, success, tid) == "binding_success"
    assert stun.classify_reply(stun.BINDING_REQUEST, success, b"x" * 12) is None
    assert stun.parse(success[:-1]) is None
    assert stun.parse(b"\x00\x01\x00\x00" + b"\x00" * 16) is None  # no magic cookie


def test_sample_ports_bounds_each_role() -> None:
    assert sample_ports([3478]) == [3478]
    assert sample_ports(list(range(3478, 3498))) == [3478, 3479, 3480, 3481]


def test_media_decision_follows_wehe() -> None:
    def st(samples: list[float], received: int = 100) -> media.StreamStats:
        return media.StreamStats(
            sent=100, received=received, loss=1 - received / 100, samples_kbps=samples
        )

    flat = [70.0, 68.0, 72.0, 70.0] * 4
    assert media.decide(st(flat), st(list(reversed(flat))))["differentiation"] == "none"
    slow = [10.0, 12.0, 9.0, 11.0] * 4
    out = media.decide(st(slow), st(flat))
    assert out["differentiation"] == "detected"
    assert out["area"] > 0.1
    assert out["ks_p"] < 0.05
    assert media.decide(st(slow[:4]), st(flat[:4]))["differentiation"] == "inconclusive"
    assert media.decide(st(flat, 50), st(flat, 55))["differentiation"] == "inconclusive"
    assert media.decide(st([0.0] * 16, 0), st(flat))["differentiation"] == "inconclusive"


def test_inverted_stream_keeps_sizes_and_leaves_rfc7983_ranges() -> None:
    packets = media.rtp_stream(20)
    assert packets[0][0] < 4
    assert 20 <= packets[1][0] <= 63
    assert {p[0] for p in packets[2:]} == {0x80, 0x90}
    inverted = [media.invert(p) for p in packets]
    assert [len(p) for p in inverted] == [len(p) for p in packets]
    assert all(echo.reply_to(p, "192.0.2.1", 40000) == p for p in inverted)


def test_rate_limit_per_source() -> None:
    b = echo.Buckets(echo.RateLimit(rate=10, burst=5))
    assert sum(b.allow("192.0.2.1", now=0.0) for _ in range(20)) == 5
    assert b.allow("192.0.2.2", now=0.0)  # another source has its own bucket
    assert b.allow("192.0.2.1", now=1.0)  # refilled
    b.allow("192.0.2.3", now=100.0)
    assert len(b) == 1  # idle sources are forgotten


# -- no amplification -------------------------------------------------------------------


class _Capture:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: Any = None) -> None:
        self.sent.append(data)


def _fuzz_datagrams(n: int) -> Iterator[bytes]:
    rnd = random.Random(7)
    tid = lambda: rnd.randbytes(12)  # noqa: E731
    for i in range(n):
        kind = i % 8
        if kind == 0:  # an unpadded binding request: its answer would be larger
            yield stun.encode(stun.BINDING_REQUEST, tid(), [])
        elif kind == 1:
            yield stun.binding_request(tid(), size=rnd.choice([24, 28, 32, 36, 48, 64]))
        elif kind == 2:
            yield stun.encode(stun.ALLOCATE_REQUEST, tid(), [(0x0019, b"\x11\0\0\0")])
        elif kind == 3:
            yield stun.allocate_request(tid(), size=rnd.choice([32, 64, 76, 100]))
        elif kind == 4:  # SIP OPTIONS, short and padded
            yield sip.options_request("h", 5060, "UDP", size=rnd.choice([0, 200, 480]))
        elif kind == 5:  # STUN-looking garbage and truncated messages
            yield bytes([rnd.randrange(4)]) + rnd.randbytes(rnd.randrange(0, 60))
        elif kind == 6:
            yield b"OPTIONS sip:x SIP/2.0\r\n" + rnd.randbytes(rnd.randrange(0, 40))
        else:
            yield rnd.randbytes(rnd.randrange(1, 600))


def test_no_amplification_for_any_datagram() -> None:
    svc = echo.UDPService(echo.Buckets(echo.RateLimit(rate=1e9, burst=1e9)), frozenset({3478}))
    cap = _Capture()
    svc.transport = cap  # type: ignore[assignment]
    answered = 0
    for data in _fuzz_datagrams(400):
        before = len(cap.sent)
        svc.datagram_received(data, ("198.51.100.9", 40000 + len(data)))
        replies = cap.sent[before:]
        assert len(replies) <= 1
        assert sum(map(len, replies)) <= len(data), data[:24]
        answered += bool(replies)
    assert answered > 200  # most are answered: the bound is not met by silence alone
    assert svc.bytes_out <= svc.bytes_in


def test_no_amplification_on_the_wire(helpers: Helpers) -> None:
    for data in list(_fuzz_datagrams(48)):
        reply = ask_udp(helpers.ip, 3478, data, timeout=0.1)
        assert reply is None or len(reply) <= len(data)


def test_no_answer_to_privileged_or_own_ports() -> None:
    svc = echo.UDPService(echo.Buckets(echo.RateLimit()), frozenset({3478}))
    cap = _Capture()
    svc.transport = cap  # type: ignore[assignment]
    svc.datagram_received(b"\xff" * 40, ("198.51.100.9", 7))
    svc.datagram_received(b"\xff" * 40, ("198.51.100.9", 3478))
    assert cap.sent == []


# -- the helper answers each payload type -----------------------------------------------


def test_helper_answers_stun_turn_echo_and_sip_over_udp(helpers: Helpers) -> None:
    tid = stun.new_transaction_id()
    reply = ask_udp(helpers.ip, 3478, stun.binding_request(tid))
    assert reply is not None
    assert stun.classify_reply(stun.BINDING_REQUEST, reply, tid) == "binding_success"
    reply = ask_udp(helpers.ip, 42424, stun.allocate_request(tid))
    assert reply is not None
    msg = stun.parse(reply)
    assert msg is not None
    assert stun.error_code(msg) == 401
    assert msg.attr(stun.ATTR_REALM)
    assert msg.attr(stun.ATTR_NONCE)
    for data in (media.dtls_client_hello(), media.rtp_stream(5)[3], b"\xfe" * 100):
        assert ask_udp(helpers.ip, 5004, data) == data
    req = sip.options_request(helpers.ip, 5060, "UDP", size=sip.UDP_SIZE)
    reply = ask_udp(helpers.ip, 5060, req)
    assert reply is not None
    assert sip.status_line(reply, req) == "SIP/2.0 200 OK"
    for name in ("via", "from", "call-id", "cseq"):
        assert sip.header(reply, name) == sip.header(req, name)
    assert (sip.header(reply, "to") or "").startswith(sip.header(req, "to") or "?")
    assert ";tag=" in (sip.header(reply, "to") or "")


def test_sip_answers_other_methods_405() -> None:
    req = sip.options_request("h", 5060, "TCP").replace(b"OPTIONS", b"INVITE", 1)
    reply = helper_sip.answer(req.replace(b"CSeq: 1 INVITE", b"CSeq: 1 INVITE"))
    assert reply is not None
    assert reply.startswith(b"SIP/2.0 405")


def _tls(ip: str, port: int, sni: str | None) -> ssl.SSLSocket:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((ip, port), timeout=3)
    return ctx.wrap_socket(raw, server_hostname=sni)


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def test_helper_sip_over_tcp_and_tls_and_not_sip_echo(helpers: Helpers) -> None:
    for use_tls, port in ((False, 5060), (True, 5061)):
        req = sip.options_request(helpers.ip, port, "TLS" if use_tls else "TCP")
        conn = (
            _tls(helpers.ip, port, None)
            if use_tls
            else socket.create_connection((helpers.ip, port), timeout=3)
        )
        with conn:
            conn.sendall(req)
            assert sip.status_line(_read_all(conn), req) == "SIP/2.0 200 OK"
        conn = (
            _tls(helpers.ip, port, None)
            if use_tls
            else socket.create_connection((helpers.ip, port), timeout=3)
        )
        with conn:
            conn.sendall(b"\xc7not sip at all")
            assert _read_all(conn) == b"\xc7not sip at all"


def test_download_server_accepts_any_sni(helpers: Helpers) -> None:
    for sni in ("web.whatsapp.com", "example.org", None):
        with _tls(helpers.ip, TLS_PORT, sni) as s:
            s.sendall(b"GET /download?bytes=100000 HTTP/1.1\r\nHost: x\r\n\r\n")
            data = _read_all(s)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert len(body) == 100000
    with _tls(helpers.ip, TLS_PORT, "x") as s:
        s.sendall(b"GET /other HTTP/1.1\r\n\r\n")
        assert _read_all(s).startswith(b"HTTP/1.1 404")


# -- the probe ------------------------------------------------------------------------------


def test_icmp_unreachable_is_connection_refused() -> None:
    ip = loopback_ip()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        port = s.getsockname()[1]
    ans = asyncio.run(udp.exchange(ip, port, stun.binding_request(), lambda d: True))
    assert ans.failure == "connection_refused"
    assert ans.reply is None
    # The refusal came from the destination itself (a closed port, not a filter).
    assert ans.rejected_by == "target"
    assert ans.attempt == 0


def test_udp_timeout_is_bounded() -> None:
    ip = loopback_ip()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((ip, 0))
        t = time.monotonic()
        ans = asyncio.run(
            udp.exchange(ip, silent.getsockname()[1], b"\xff" * 8, lambda d: False, rto=0.05)
        )
        took = time.monotonic() - t
    assert ans.failure == "generic_timeout_error"
    assert ans.bytes_sent == 24
    assert ans.attempt == 2
    assert took < 2.0


@pytest.fixture(scope="module")
def call_run(helpers: Helpers) -> tuple[list[dict[str, Any]], float]:
    t = time.monotonic()
    ms = run(probe_config(helpers), None, plane="media")
    return ms, time.monotonic() - t


def _by(ms: list[dict[str, Any]], inp: str) -> dict[str, Any]:
    return next(m for m in ms if m["input"] == inp)


def test_one_measurement_per_app_and_generic(call_run: tuple[list[dict[str, Any]], float]) -> None:
    ms, _ = call_run
    assert [m["input"] for m in ms] == [
        "whatsapp", "signal", "messenger", "skype", "zoom", "facetime", "generic",
    ]  # fmt: skip
    for m in ms:
        assert m["test_name"] == "voipwatch_call"
        assert m["test_version"] == "0.1.0"
        assert m["probe_ip"] == "127.0.0.1"
        tk = m["test_keys"]
        assert {"x_exchanges", "x_media_ab", "x_throughput_ab", "x_residual"} <= set(tk)
        for e in tk["x_exchanges"]:
            assert e["t"] is not None
            assert e["t0"] <= e["t"]


def test_exchanges_against_the_helper(call_run: tuple[list[dict[str, Any]], float]) -> None:
    ms, _ = call_run
    for name in ("whatsapp", "skype", "zoom", "facetime"):
        ex = _by(ms, name)["test_keys"]["x_exchanges"]
        assert ex
        assert all(e["target"] == "helper" for e in ex)
        udp_ports = {e["port"] for e in ex if e["control"] == "" and e["transport"] == "udp"}
        assert len(udp_ports) <= 4
        got = {(e["payload"], e["control"], e["reply"]) for e in ex}
        assert ("stun_binding", "", "binding_success") in got
        assert ("stun_binding", "random_port", "binding_success") in got
        # Random bytes on the random port: a port block told from a STUN filter.
        assert ("random", "random_port", "echo") in got
        assert ("random", "same_port_other_payload", "echo") in got
        assert ("turn_allocate", "", "error_401") in got
        assert ("dtls_client_hello", "", "echo") in got
        for e in ex:
            assert e["success"], e
            assert e["failure"] is None
            assert e["bytes_received"] <= e["bytes_sent"]
    # Telegram's call servers are handed out per call: no fixed endpoint to test.
    assert all(m["input"] != "telegram" for m in ms)


@needs_root
def test_exchanges_against_the_apps_own_servers(
    call_run: tuple[list[dict[str, Any]], float], helpers: Helpers
) -> None:
    ms, _ = call_run
    sig = [e for e in _by(ms, "signal")["test_keys"]["x_exchanges"] if e["target"] == "app"]
    by_port = {(e["transport"], e["port"]): e for e in sig}
    assert by_port[("udp", 3478)]["reply"] == "binding_success"
    assert by_port[("udp", 443)]["reply"] == "binding_success"
    assert by_port[("udp", 3478)]["host"] == "turn3.voip.signal.org"
    assert by_port[("tcp", 80)]["failure"] == "connection_refused"  # nothing listens there
    msg = [e for e in _by(ms, "messenger")["test_keys"]["x_exchanges"] if e["target"] == "app"]
    assert [(e["host"], e["reply"]) for e in msg] == [("stun.fbsbx.com", "binding_success")]
    queries = _by(ms, "signal")["test_keys"]["queries"]
    assert any(q["hostname"] == "turn3.voip.signal.org" for q in queries)


def test_generic_sip_public_stun_and_refused(call_run: tuple[list[dict[str, Any]], float]) -> None:
    ms, _ = call_run
    ex = _by(ms, "generic")["test_keys"]["x_exchanges"]
    sips = {(e["transport"], e["payload"]): e for e in ex if e["role"] == "sip/signalling"}
    for transport in ("udp", "tcp", "tls"):
        assert sips[(transport, "sip_options")]["reply"] == "SIP/2.0 200 OK"
        assert sips[(transport, "not_sip")]["reply"] == "echo"
        assert sips[(transport, "not_sip")]["control"] == "same_port_other_payload"
    # The public servers' ports are also tried against the helper, as controls.
    controls = [e for e in ex if e["role"] == "stun/public" and e["target"] == "helper"]
    assert {e["control"] for e in controls} >= {"", "same_port_other_payload"}
    public = [e for e in ex if e["role"] == "stun/public" and e["target"] == "public"]
    assert sorted((e["port"], e["reply"], e["failure"]) for e in public) == [
        (3478, "binding_success", None),
        (3999, None, "connection_refused"),  # ICMP port unreachable on loopback
    ]


def test_media_ab_on_a_clean_path_is_none(call_run: tuple[list[dict[str, Any]], float]) -> None:
    ms, _ = call_run
    ab = _by(ms, "generic")["test_keys"]["x_media_ab"]
    assert ab["differentiation"] == "none", ab
    for side in ("original", "inverted"):
        s = ab[side]
        assert s["sent"] == 100
        assert s["loss"] <= 0.05
        assert len(s["samples_kbps"]) == 8
        assert s["throughput_kbps"] > 0
        assert s["jitter_ms"] is not None


def test_throughput_ab_on_loopback_is_alike(call_run: tuple[list[dict[str, Any]], float]) -> None:
    ms, _ = call_run
    tp = _by(ms, "generic")["test_keys"]["x_throughput_ab"]
    assert tp["target_sni"] == "web.whatsapp.com"
    assert tp["control_sni"] == "example.org"
    assert tp["target"]["bytes"] == tp["control"]["bytes"] == 1_000_000
    assert tp["target"]["failure"] is None
    assert tp["control"]["failure"] is None
    # Same server, same path: not throttled. (The ratio of two loopback downloads of a
    # few milliseconds is noise on a busy machine; the verdict's ceiling is what counts.)
    assert tp["ratio"] is not None
    from voipwatch.verdicts import judge_bytes

    v = judge_bytes(json.dumps(_by(ms, "generic")).encode()).verdict
    web = [s for s in v.services if s.role == "whatsapp/web"]
    assert [(s.status, s.technique) for s in web] == [("ok", None)]


def test_residual_check_on_a_clean_path(call_run: tuple[list[dict[str, Any]], float]) -> None:
    """One check per run, carried by every call-plane measurement; a clean path shows none."""
    from voipwatch.ooni.model import decode
    from voipwatch.verdicts.residual import judge_residual

    ms, _ = call_run
    residuals = [m["test_keys"]["x_residual"] for m in ms]
    assert all(r == residuals[0] for r in residuals)
    x = residuals[0]
    assert x["port"] == 42425
    assert x["other_port"] == 42426
    assert x["wait"] == 0.2
    steps = [s["step"] for s in x["steps"]]
    assert steps == ["before", "trigger", *["after"] * 3, *["other"] * 3, "late"]
    assert all(s["success"] for s in x["steps"])
    late = x["steps"][-1]
    assert late["t0"] - x["steps"][-2]["t"] >= 0.2
    m, _ = decode(json.dumps(_by(ms, "generic")).encode())
    finding = judge_residual(m.test_keys.x_residual)
    assert finding is not None
    assert finding.outcome == "none"


def test_no_client_address_anywhere(call_run: tuple[list[dict[str, Any]], float]) -> None:
    ms, _ = call_run
    text = json.dumps(ms)
    assert CLIENT not in text
    assert "mapped" not in text.lower()


def test_call_plane_config_keys() -> None:
    cfg = parse_config(
        b"""
[probe.helper]
url = "http://192.0.2.80:8080"
address = "192.0.2.90"
stun_servers = ["stun.example:3478"]
media_seconds = 2
throughput_bytes = 1000000
"""
    )
    assert cfg.helper.address == "192.0.2.90"
    assert cfg.helper.media_seconds == 2
    assert ProbeConfig().helper.stun_servers is None  # the catalogue's stun/public
    assert ProbeConfig().helper.throughput_bytes == 4_000_000


def test_cli_plane_media_json(
    helpers: Helpers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    cfg = tmp_path / "probe.toml"
    cfg.write_text(
        f"""
[probe]
source_address = "{CLIENT}"
[probe.resolvers]
system = false
udp = ["{helpers.dns.address}"]
doh = []
dot = []
[probe.helper]
stun_servers = []
media_seconds = 1
throughput_bytes = 100000
tls_port = {TLS_PORT}
residual_wait = 0.1
"""
    )
    out = tmp_path / "m.jsonl"
    r = CliRunner().invoke(
        app,
        ["probe", "--plane", "media", "--yes", "--json", "--config", str(cfg),
         "--apps", "zoom,facetime", "--out", str(out), "--residual", "--helper", helpers.ip],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    verdicts = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    ms = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["input"] for m in ms] == ["zoom", "facetime", "generic"]
    assert [v["report_id"] for v in verdicts] == [m["report_id"] for m in ms]
    assert CLIENT not in out.read_text()
    assert all(m["test_keys"]["x_residual"]["wait"] == 0.1 for m in ms)
    r = CliRunner().invoke(app, ["probe", "--residual", "--yes", "--config", str(cfg)])
    assert r.exit_code == 2
    assert "--plane media" in r.output
    r = CliRunner().invoke(app, ["probe", "--plane", "media", "--helper", "nope", "--yes"])
    assert r.exit_code == 2
    assert "--helper" in r.output


def test_a_public_stun_server_without_an_address_is_recorded_not_skipped(
    helpers: Helpers,
) -> None:
    config = probe_config(
        helpers, stun_servers=["stun.nowhere.test:3478", f"{helpers.app_ip}:3478"], residual=False
    )
    (generic,) = [m for m in run(config, ["zoom"], plane="media") if m["input"] == "generic"]
    public = [
        e
        for e in generic["test_keys"]["x_exchanges"]
        if e["role"] == "stun/public" and e["target"] == "public"
    ]
    by_host = {e["host"]: e for e in public}
    lost = by_host["stun.nowhere.test"]
    assert (lost["address"], lost["port"], lost["transport"], lost["payload"]) == (
        "", 3478, "udp", "stun_binding",
    )  # fmt: skip
    assert (lost["success"], lost["failure"]) == (False, "dns_nxdomain_error")
    assert by_host[helpers.app_ip]["reply"] == "binding_success"  # a literal is its own address
