"""The probe against servers on loopback: entries, tags, attempts, controls, bounds, privacy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from voipwatch.helper import control as helper
from voipwatch.helper.targets import parse_ranges
from voipwatch.probe import ProbeConfig, parse_config, run, summary
from voipwatch.probe.config import Concurrency, HelperConfig, Overlay, Resolvers, Timeouts
from voipwatch.probe.dns import lookup_udp
from voipwatch.probe.errors import failure_of, is_retryable
from voipwatch.probe.measurement import Recorder, report_id
from voipwatch.testing import Blackhole, DnsServer, DotServer, Site, loopback_ip, make_pki
from voipwatch.verdicts import judge_bytes

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="binds ports 80/443/5222 on loopback addresses (root)"
)

TELEGRAM_DCS = [
    "149.154.175.50",
    "149.154.167.51",
    "149.154.175.100",
    "149.154.167.91",
    "149.154.171.5",
    "95.161.76.100",
]
CERT_NAMES = [
    "*.whatsapp.net",
    "*.whatsapp.com",
    "*.telegram.org",
    "*.signal.org",
    "*.voip.signal.org",
    "zoom.us",
    "dot.test",
]


def _dump(m: dict[str, Any]) -> str:
    return json.dumps(m)


# -- pure parts ---------------------------------------------------------------------


def test_failure_table_maps_exceptions_to_ooni_names() -> None:
    assert failure_of(ConnectionResetError()) == "connection_reset"
    assert failure_of(ConnectionRefusedError()) == "connection_refused"
    assert failure_of(TimeoutError()) == "generic_timeout_error"
    assert failure_of(ssl.SSLEOFError()) == "eof_error"
    assert failure_of(asyncio.IncompleteReadError(b"", 2)) == "eof_error"
    assert failure_of(socket.gaierror(socket.EAI_NONAME, "x")) == "dns_nxdomain_error"
    assert failure_of(OSError(113, "No route to host")) == "host_unreachable"
    assert failure_of(OSError(101, "Network is unreachable")) == "network_unreachable"
    e = ssl.SSLCertVerificationError()
    e.verify_code = 62
    assert failure_of(e) == "ssl_invalid_hostname"
    e.verify_code = 20
    assert failure_of(e) == "ssl_unknown_authority"
    e.verify_code = 10
    assert failure_of(e) == "ssl_invalid_certificate"
    assert failure_of(RuntimeError("odd")).startswith("unknown_failure")
    assert is_retryable("generic_timeout_error", 0)
    assert not is_retryable("generic_timeout_error", 1)
    assert is_retryable("connection_reset")


def test_config_from_toml_and_typos_refused() -> None:
    cfg = parse_config(
        b"""
[probe]
probe_cc = "IR"
routable = ["198.18.0.0/15"]
retries = 1
[probe.resolvers]
system = false
udp = ["198.18.0.53:53"]
[probe.timeouts]
run = 30.0
[probe.helper]
url = "http://198.18.2.80:8080"
[overlay]
ips = {"149.154.175.50" = "198.18.20.1"}
"""
    )
    assert cfg.probe_cc == "IR"
    assert cfg.retries == 1
    assert not cfg.resolvers.system
    assert cfg.timeouts.run == 30.0
    assert cfg.timeouts.dns == 5.0
    assert cfg.overlay.ips == {"149.154.175.50": "198.18.20.1"}
    assert ProbeConfig().probe_asn == "AS0"
    assert ProbeConfig().control_sni == "example.org"
    from voipwatch.errors import UsageError

    with pytest.raises(UsageError, match="retrys"):
        parse_config(b"[probe]\nretrys = 1\n")


def test_report_id_has_ooni_modern_form() -> None:
    rec = Recorder()
    rid = report_id("facebook_messenger", rec.started, "ZZ", "AS0")
    stamp, name, cc, asn, n1, rand = rid.split("_")
    assert len(stamp) == 16
    assert stamp.endswith("Z")
    assert "T" in stamp
    assert (name, cc, asn, n1) == ("facebookmessenger", "ZZ", "0", "n1")
    assert len(rand) == 16
    assert rand.isalnum()


# -- DNS over UDP -------------------------------------------------------------------


def test_udp_injection_records_every_answer_with_its_ttl() -> None:
    srv = DnsServer(loopback_ip(), {"blocked.test": ("inject", "10.10.34.35", "93.184.216.34")}, 0)
    try:
        rec = Recorder()
        lk = asyncio.run(
            lookup_udp(rec, "blocked.test", srv.address, timeout=2, window=0.5, attempt=0)
        )
    finally:
        srv.close()
    qs = rec.entries["queries"]
    assert len(qs) == 2
    assert {q["transaction_id"] for q in qs} == {qs[0]["transaction_id"]}
    assert [q["answers"][0]["ipv4"] for q in qs] == ["10.10.34.35", "93.184.216.34"]
    assert [q["x_ip_ttl"] for q in qs] == [DnsServer.FORGED_TTL, 64]
    assert all(q["tags"] == ["udp"] and q["engine"] == "udp" for q in qs)
    assert qs[0]["resolver_address"] == srv.address
    assert lk.addrs == ["10.10.34.35"]
    assert lk.seen == {"10.10.34.35", "93.184.216.34"}
    assert qs[0]["t0"] <= qs[0]["t"] <= qs[1]["t"]


def test_udp_no_answer_is_one_timeout_entry() -> None:
    srv = DnsServer(loopback_ip(), {"x.test": "silent"}, 0)
    try:
        rec = Recorder()
        t = time.monotonic()
        lk = asyncio.run(lookup_udp(rec, "x.test", srv.address, timeout=0.6, window=1, attempt=0))
        took = time.monotonic() - t
    finally:
        srv.close()
    (q,) = rec.entries["queries"]
    assert q["failure"] == lk.failure == "generic_timeout_error"
    assert 0.5 < q["t"] - q["t0"] < 1.0
    assert took < 1.2


def test_udp_nxdomain_and_refused_port() -> None:
    srv = DnsServer(loopback_ip(), {}, 0)
    try:
        rec = Recorder()
        lk = asyncio.run(lookup_udp(rec, "nope.test", srv.address, timeout=1, window=0, attempt=0))
    finally:
        srv.close()
    assert lk.failure == "dns_nxdomain_error"
    # Nothing listens: ICMP port unreachable on loopback.
    rec = Recorder()
    lk = asyncio.run(
        lookup_udp(rec, "x.test", f"{loopback_ip()}:9", timeout=1, window=0, attempt=0)
    )
    assert lk.failure == "connection_refused"


# -- a whole simulated world on loopback ----------------------------------------------


class World:
    def __init__(self, tmp: Path) -> None:
        self.pki = make_pki(tmp, CERT_NAMES)
        ctx = self.pki.server_ctx
        self.app_ip = loopback_ip()  # everything that works
        self.wa_ip = loopback_ip()  # chat endpoints (443 TLS, 5222 plain)
        self.reg_ip = loopback_ip()  # registration: SNI filtering by reset
        self.refused_ip = loopback_ip()  # nothing listens
        self.dc_ip = loopback_ip()  # Telegram DCs, plain HTTP on 80 and 443
        self.edge_real, self.edge_fake = loopback_ip(), loopback_ip()
        self.sites = [
            Site(self.app_ip, 443, ctx),
            Site(self.wa_ip, 443, ctx),
            Site(self.wa_ip, 5222, None),
            Site(self.reg_ip, 443, ctx, policy={"v.whatsapp.net": "reset"}),
            Site(self.dc_ip, 80, None),
            Site(self.dc_ip, 443, None),
            Site(self.edge_real, 443, ctx),
            Site(self.edge_fake, 443, ctx),
        ]
        zone: dict[str, Any] = {f"e{i}.whatsapp.net": [self.wa_ip] for i in range(1, 17)}
        zone["e2.whatsapp.net"] = [self.refused_ip]
        zone["v.whatsapp.net"] = [self.reg_ip]
        for h in (
            "web.whatsapp.com",
            "web.telegram.org",
            "cdsi.signal.org",
            "chat.signal.org",
            "sfu.voip.signal.org",
            "storage.signal.org",
            "zoom.us",
            "b-api.facebook.com",
            "b-graph.facebook.com",
            "star.c10r.facebook.com",
            "external.xx.fbcdn.net",
            "scontent.xx.fbcdn.net",
            "stun.fbsbx.com",
        ):
            zone[h] = [self.app_ip]
        zone["uptime.signal.org"] = [self.app_ip]
        control = dict(zone)
        zone["edge-mqtt.facebook.com"] = [self.edge_fake]  # the local resolver lies
        control["edge-mqtt.facebook.com"] = [self.edge_real]
        self.dns = DnsServer(loopback_ip(), zone)
        self.dot = DotServer(loopback_ip(), control, ctx)
        overlay = {dc: self.dc_ip for dc in TELEGRAM_DCS}
        overlay[TELEGRAM_DCS[-1]] = self.refused_ip
        self.config = ProbeConfig(
            ca_file=str(self.pki.ca_file),
            resolvers=Resolvers(
                system=False,
                udp=[self.dns.address],
                doh=[],
                dot=[f"{self.dot.address}#dot.test"],
                injection_window=0.2,
            ),
            timeouts=Timeouts(dns=2, connect=2, tls=2, http=3, run=20),
            overlay=Overlay(ips=overlay),
        )

    def close(self) -> None:
        for s in [*self.sites, self.dns, self.dot]:
            s.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if os.geteuid() != 0:
        pytest.skip("binds ports 53/80/443/5222 on loopback addresses (root)")
    w = World(tmp_path_factory.mktemp("pki"))
    yield w
    w.close()


@pytest.fixture(scope="module")
def measured(world: World) -> dict[str, dict[str, Any]]:
    ms = run(world.config, ["whatsapp", "telegram", "signal", "messenger", "zoom"])
    return {m["test_name"]: m for m in ms}


@needs_root
def test_envelope_is_ooni_df000(measured: dict[str, dict[str, Any]]) -> None:
    assert set(measured) == {
        "whatsapp",
        "telegram",
        "signal",
        "facebook_messenger",
        "voipwatch_zoom",
    }
    versions = {k: m["test_version"] for k, m in measured.items()}
    assert versions == {
        "whatsapp": "0.11.0",
        "telegram": "0.3.1",
        "signal": "0.2.5",
        "facebook_messenger": "0.2.1",
        "voipwatch_zoom": "0.1.0",
    }
    for m in measured.values():
        assert m["data_format_version"] == "0.2.0"
        assert m["probe_ip"] == "127.0.0.1"
        assert m["probe_cc"] == "ZZ"
        assert m["probe_asn"] == "AS0"
        assert m["software_name"] == "voipwatch"
        assert m["annotations"]["engine_name"] == "voipwatch"
        assert len(m["measurement_start_time"]) == 19
        assert m["input"] is None
        assert m["resolver_ip"] is None
        assert m["probe_network_name"] is None
        assert 0 < m["test_runtime"] < 20
        assert m["test_keys"]["failure"] is None
        assert m["test_keys"]["failed_operation"] is None


@needs_root
def test_every_entry_has_tags_attempt_and_times(measured: dict[str, dict[str, Any]]) -> None:
    for m in measured.values():
        tk = m["test_keys"]
        for kind in ("queries", "tcp_connect", "tls_handshakes", "requests"):
            for e in tk[kind]:
                assert e["tags"], (kind, e)
                assert isinstance(e["attempt"], int), (kind, e)
                assert isinstance(e["transaction_id"], int)
                assert e["t"] is not None
                assert e["t"] >= e["t0"] >= 0
        tags = {t for q in tk["queries"] for t in q["tags"]}
        assert tags <= {"udp", "control"}  # the system resolver is off in this world
        engines = {q["engine"] for q in tk["queries"]}
        assert engines <= {"udp", "dot"}


@needs_root
def test_whatsapp_keys_controls_and_attempts(
    measured: dict[str, dict[str, Any]], world: World
) -> None:
    tk = measured["whatsapp"]["test_keys"]
    assert tk["whatsapp_endpoints_status"] == "ok"
    assert tk["whatsapp_endpoints_blocked"] == ["e2.whatsapp.net"]
    assert tk["registration_server_status"] == "blocked"
    assert tk["registration_server_failure"] == "connection_reset"
    assert tk["whatsapp_web_status"] == "ok"
    assert tk["whatsapp_web_failure"] is None
    reg = f"{world.reg_ip}:443"
    target = [h for h in tk["tls_handshakes"] if h["address"] == reg and h["tags"] == ["target"]]
    assert [h["attempt"] for h in target] == [0, 1, 2]
    assert {h["failure"] for h in target} == {"connection_reset"}
    assert all(h["server_name"] == "v.whatsapp.net" and not h["no_tls_verify"] for h in target)
    control = [
        h for h in tk["tls_handshakes"] if h["address"] == reg and h["tags"] == ["control_sni"]
    ]
    assert len(control) == 1
    assert control[0]["failure"] is None
    assert control[0]["server_name"] == "example.org"
    assert control[0]["no_tls_verify"] is True
    assert control[0]["t0"] <= target[0]["t0"]  # the control goes first
    ok = [h for h in tk["tls_handshakes"] if h["failure"] is None and h["tags"] == ["target"]]
    assert ok
    assert ok[0]["tls_version"].startswith("TLS")
    assert ok[0]["cipher_suite"]
    assert ok[0]["peer_certificates"] == []
    refused = [c for c in tk["tcp_connect"] if c["ip"] == world.refused_ip]
    assert {c["port"] for c in refused} == {443, 5222}
    assert {c["status"]["failure"] for c in refused} == {"connection_refused"}
    assert sorted(c["attempt"] for c in refused if c["port"] == 443) == [0, 1, 2]
    reqs = {r["request"]["url"]: r for r in tk["requests"] if r["failure"] is None}
    web = reqs["https://web.whatsapp.com/"]
    assert web["response"]["code"] == 200
    assert web["response"]["body"] == "hello from the app"
    assert web["request"]["method"] == "GET"
    assert web["address"] == f"{world.app_ip}:443"
    # The verdict engine reads it: SNI filtering of the registration server.
    v = judge_bytes(msgspec.json.encode(measured["whatsapp"])).verdict
    roles = {s.role: s for s in v.services}
    assert roles["whatsapp/registration"].status == "blocked"
    assert roles["whatsapp/registration"].technique == "tls.reset"
    assert roles["whatsapp/web"].status == "ok"


@needs_root
def test_telegram_posts_plain_http_on_80_and_443(
    measured: dict[str, dict[str, Any]], world: World
) -> None:
    tk = measured["telegram"]["test_keys"]
    assert tk["telegram_tcp_blocking"] is False
    assert tk["telegram_http_blocking"] is False
    assert tk["telegram_web_status"] == "ok"
    assert tk["telegram_web_failure"] is None
    # This world's data centres are web servers, not Telegram: those that accept the
    # connect never answer MTProto, so the app's own answer is missing.
    answers = tk["x_mtproto"]
    assert len(answers) == len({a["address"] for a in answers}) >= 2
    assert any(a["connected"] for a in answers)
    assert all(a["failure"] is not None for a in answers)
    assert tk["x_accept_all"]["connected"] is False
    v = judge_bytes(msgspec.json.encode(measured["telegram"])).verdict
    (dc,) = [s for s in v.services if s.role == "telegram/dc"]
    assert dc.status != "ok"
    posts = [r for r in tk["requests"] if r["request"]["method"] == "POST"]
    urls = {r["request"]["url"] for r in posts}
    assert f"http://{world.dc_ip}/" in urls
    assert f"http://{world.dc_ip}:443/" in urls
    assert f"http://{world.refused_ip}:443/" in urls  # the overlay applied to the catalogue
    bad = [r for r in posts if world.refused_ip in r["request"]["url"]]
    assert {r["failure"] for r in bad} == {"connection_refused"}
    assert not [h for h in tk["tls_handshakes"] if h["address"].startswith(world.dc_ip)]


@needs_root
def test_signal_and_zoom(measured: dict[str, dict[str, Any]]) -> None:
    tk = measured["signal"]["test_keys"]
    assert tk["signal_backend_status"] == "ok"
    assert tk["signal_backend_failure"] is None
    assert any(q["hostname"] == "uptime.signal.org" for q in tk["queries"])
    z = measured["voipwatch_zoom"]["test_keys"]
    assert z["x_targets"] == [
        {
            "role": "zoom/site",
            "target": "https://zoom.us/",
            "failure": None,
            "failed_operation": None,
        }
    ]
    assert {tuple(h["tags"]) for h in z["tls_handshakes"]} == {("target",), ("control_sni",)}


@needs_root
def test_messenger_consistency_against_control(
    measured: dict[str, dict[str, Any]], world: World
) -> None:
    tk = measured["facebook_messenger"]["test_keys"]
    assert tk["facebook_edge_dns_consistent"] is False
    assert tk["facebook_edge_reachable"] is False
    assert tk["facebook_dns_blocking"] is True
    assert tk["facebook_tcp_blocking"] is False
    assert tk["facebook_b_api_dns_consistent"] is True
    assert tk["facebook_b_api_reachable"] is True
    assert tk["facebook_stun_dns_consistent"] is True
    assert tk["facebook_stun_reachable"] is None
    control = [q for q in tk["queries"] if q["tags"] == ["control"]]
    assert control
    assert all(q["engine"] == "dot" for q in control)
    assert all("asn" not in a for q in tk["queries"] for a in q["answers"] or ())


@needs_root
def test_no_client_address_anywhere(measured: dict[str, dict[str, Any]]) -> None:
    for m in measured.values():
        text = _dump(m)
        assert text.count("127.0.0.1") == 1  # probe_ip, scrubbed
        assert "mapped" not in text.lower()


@needs_root
def test_summary_lines(measured: dict[str, dict[str, Any]]) -> None:
    verdicts = [judge_bytes(msgspec.json.encode(m)).verdict for m in measured.values()]
    lines = summary(verdicts)
    text = "\n".join(lines)
    assert (
        "WhatsApp registration (new accounts, phone verification): blocked — the connection "
        "is reset when the app's server name is seen (SNI filtering)"
    ) in text
    assert "WhatsApp Web: reachable" in text


# -- the control helper ------------------------------------------------------------------


class _HelperThread:
    """The helper on its own event loop in a thread (as it runs beside a probe)."""

    def __init__(self, ip: str, ca_file: str = "") -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.port = 0

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            server = self.loop.run_until_complete(
                helper.start(
                    ip,
                    0,
                    ca_file=ca_file,
                    limits=helper.Limits(connect=1, tls=1),
                    # The world's servers are on loopback: the helper must be told so.
                    allow_ranges=parse_ranges(["127.0.0.0/8"]),
                )
            )
            self.server = server
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()
            server.close()
            self.loop.run_until_complete(server.wait_closed())
            self.loop.close()

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        ready.wait(5)
        self.url = f"http://{ip}:{self.port}"

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _post(url: str, body: bytes, method: str = "POST") -> tuple[int, Any]:
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.request(method, "/", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        c.close()


def test_helper_measures_tcp_tls_dns(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, ["app.test"])
    ip = loopback_ip()
    site = Site(ip, 0, pki.server_ctx, policy={"blocked.test": "reset"})
    port = site.sock.getsockname()[1]
    h = _HelperThread(loopback_ip(), str(pki.ca_file))
    try:
        req = {
            "tcp_connect": [f"{ip}:{port}", f"{loopback_ip()}:9"],
            "tls": [
                {"address": f"{ip}:{port}", "sni": "app.test"},
                {"address": f"{ip}:{port}", "sni": "blocked.test"},
            ],
            "dns": ["localhost", "no-such-name.invalid"],
        }
        code, ans = _post(h.url, json.dumps(req).encode())
    finally:
        h.close()
        site.close()
    assert code == 200
    tcp = ans["tcp_connect"]
    assert tcp[f"{ip}:{port}"] == {"success": True, "failure": None}
    assert [v["failure"] for k, v in tcp.items() if k.endswith(":9")] == ["connection_refused"]
    assert ans["tls"][f"{ip}:{port} app.test"] == {"success": True, "failure": None}
    assert ans["tls"][f"{ip}:{port} blocked.test"]["failure"] == "connection_reset"
    assert ans["dns"]["localhost"]["failure"] is None
    assert ans["dns"]["localhost"]["addrs"]
    assert ans["dns"]["no-such-name.invalid"]["failure"] == "dns_nxdomain_error"


def test_helper_asks_stun_servers_from_outside() -> None:
    """A STUN server that answers, a closed port, and a server that answers nothing."""
    from voipwatch.helper import stun_answers

    ip = loopback_ip()
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((ip, 0))
    server.settimeout(5)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((ip, 0))
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind((ip, 0))
    closed_port = closed.getsockname()[1]
    closed.close()

    def answer_one() -> None:
        with contextlib.suppress(OSError):
            data, (src, sport) = server.recvfrom(2048)
            reply = stun_answers.answer(data, src, sport)
            if reply is not None:
                server.sendto(reply, (src, sport))

    t = threading.Thread(target=answer_one, daemon=True)
    t.start()
    h = _HelperThread(ip)
    up, quiet = f"{ip}:{server.getsockname()[1]}", f"{ip}:{silent.getsockname()[1]}"
    try:
        req = {"stun": [up, quiet, f"{ip}:{closed_port}"]}
        code, ans = _post(h.url, json.dumps(req).encode())
        bad = _post(h.url, json.dumps({"stun": ["stun.example:3478"]}).encode())
    finally:
        h.close()
        t.join(5)
        server.close()
        silent.close()
    assert code == 200
    assert ans["stun"][up] == {"success": True, "failure": None}
    assert ans["stun"][quiet] == {"success": False, "failure": "generic_timeout_error"}
    assert ans["stun"][f"{ip}:{closed_port}"]["failure"] == "connection_refused"
    assert bad[0] == 400


def test_helper_refuses_bad_requests() -> None:
    h = _HelperThread(loopback_ip())
    try:
        assert _post(h.url, b"", method="GET")[0] == 405
        assert _post(h.url, b"{not json")[0] == 400
        assert _post(h.url, json.dumps({"tcp_connect": ["example.org:443"]}).encode())[0] == 400
        many = {"tcp_connect": [f"127.9.9.9:{p}" for p in range(1, 200)]}
        assert _post(h.url, json.dumps(many).encode())[0] == 400
        assert _post(h.url, b"[" + b"1," * 40000 + b"1]")[0] == 413
    finally:
        h.close()


@needs_root
def test_x_control_from_the_helper(world: World) -> None:
    h = _HelperThread(loopback_ip(), world.config.ca_file)
    try:
        cfg = msgspec.structs.replace(world.config, helper=HelperConfig(url=h.url))
        (m,) = run(cfg, ["telegram"])
    finally:
        h.close()
    tk = m["test_keys"]
    assert tk["x_control_failure"] is None
    xc = tk["x_control"]
    assert xc["tcp_connect"][f"{world.dc_ip}:80"]["success"] is True
    assert xc["tcp_connect"][f"{world.refused_ip}:443"]["failure"] == "connection_refused"
    assert xc["tls"][f"{world.app_ip}:443 web.telegram.org"]["success"] is True
    assert "web.telegram.org" in xc["dns"]


def test_x_control_failure_when_the_helper_is_away() -> None:
    srv = DnsServer(loopback_ip(), {}, 0)
    try:
        cfg = ProbeConfig(
            resolvers=Resolvers(system=False, udp=[srv.address], doh=[], dot=[]),
            timeouts=Timeouts(dns=0.5, connect=0.5, tls=0.5, http=0.5, run=5),
            helper=HelperConfig(url=f"http://{loopback_ip()}:9"),
            retries=0,
        )
        (m,) = run(cfg, ["zoom"])
    finally:
        srv.close()
    assert m["test_keys"]["x_control"] is None
    assert m["test_keys"]["x_control_failure"] == "connection_refused"
    assert m["test_keys"]["x_targets"][0]["failure"] == "dns_nxdomain_error"


class _GarbageHelper:
    """A "control helper" on loopback that answers every request with the same bytes."""

    def __init__(self, answer: bytes) -> None:
        self.sock = socket.socket()
        self.sock.bind((loopback_ip(), 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.answer = answer
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{loopback_ip()}:{self.sock.getsockname()[1]}/"

    def _serve(self) -> None:
        for _ in range(200):  # bounded: one probe run asks a few times
            if self.stop.is_set():
                return
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                    conn.sendall(self.answer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def _http(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.mark.parametrize(
    "answer",
    [
        _http(b"not json"),
        _http(b"[]"),
        _http(b'{"tcp_connect": 5, "tls": "x", "dns": [], "stun": {"a": 1}}'),
        b"\x00\xff\x16\x03 not http at all\r\n\r\n",
    ],
    ids=["not-json", "not-an-object", "wrong-types", "not-http"],
)
def test_a_helper_answering_garbage_is_a_named_failure_never_a_traceback(answer: bytes) -> None:
    srv = DnsServer(loopback_ip(), {}, 0)
    garbage = _GarbageHelper(answer)
    try:
        cfg = ProbeConfig(
            resolvers=Resolvers(system=False, udp=[srv.address], doh=[], dot=[]),
            timeouts=Timeouts(dns=0.5, connect=0.5, tls=0.5, http=0.5, run=5),
            helper=HelperConfig(url=garbage.url),
            retries=0,
        )
        (m,) = run(cfg, ["zoom"])
    finally:
        garbage.close()
        srv.close()
    tk = m["test_keys"]
    if tk["x_control"] is None:
        assert isinstance(tk["x_control_failure"], str)
        assert tk["x_control_failure"]
    # Whatever the helper said, the measurement is judged, and nothing is confirmed by it.
    judged = judge_bytes(json.dumps(m).encode())
    assert judged.verdict is not None
    assert not any(s.confirmed for s in judged.verdict.services)


# -- the time bounds ----------------------------------------------------------------------


@pytest.fixture
def black_world() -> Iterator[tuple[DnsServer, str]]:
    if os.geteuid() != 0:
        pytest.skip("binds ports 80/443 on a loopback address (root)")
    ip = loopback_ip()
    holes = [Blackhole(ip, 80), Blackhole(ip, 443)]
    dns = DnsServer(loopback_ip(), {}, 0)
    dns.zone.update(dict.fromkeys(_all_names(), "silent"))
    yield dns, ip
    for x in [*holes, dns]:
        x.close()


def _all_names() -> list[str]:
    from voipwatch.catalog import load

    cat = load()
    return [h for r in cat.roles.values() for h in r.hosts] + [
        "v.whatsapp.net",
        "web.whatsapp.com",
        "web.telegram.org",
        "zoom.us",
        "www.viber.com",
        "www.skype.com",
        "teams.microsoft.com",
        "imo.im",
        "line.me",
        "www.wechat.com",
        "cdsi.signal.org",
    ]


def _black_config(dns: DnsServer, ip: str, op: float, run_bound: float) -> ProbeConfig:
    return ProbeConfig(
        resolvers=Resolvers(system=False, udp=[dns.address], doh=[], dot=[]),
        timeouts=Timeouts(dns=op, connect=op, tls=op, http=op, run=run_bound),
        overlay=Overlay(ips=dict.fromkeys(TELEGRAM_DCS, ip)),
        concurrency=Concurrency(),
    )


@needs_root
def test_everything_times_out_in_about_two_operation_timeouts(
    black_world: tuple[DnsServer, str],
) -> None:
    dns, ip = black_world
    op = 1.0
    t = time.monotonic()
    ms = run(_black_config(dns, ip, op, 30), None)
    took = time.monotonic() - t
    assert len(ms) == 10
    # All targets in parallel: a timeout and its one retry, plus the slot leases
    # of the Telegram connects to one address, plus slack — whatever the number
    # of targets.
    assert took < 2 * op + 1.5, took
    failures = set()
    for m in ms:
        tk = m["test_keys"]
        failures |= {q["failure"] for q in tk["queries"]}
        failures |= {c["status"]["failure"] for c in tk["tcp_connect"]}
        failures |= {r["failure"] for r in tk["requests"]}
    assert failures == {"generic_timeout_error"}
    tg = next(m for m in ms if m["test_name"] == "telegram")["test_keys"]
    # 6 data centres x 2 ports, each tried twice (the timeout retried once).
    assert len(tg["tcp_connect"]) == 24
    assert {c["attempt"] for c in tg["tcp_connect"]} == {0, 1}
    assert tg["telegram_tcp_blocking"] is True


@needs_root
def test_the_run_bound_cuts_and_records_timeouts(black_world: tuple[DnsServer, str]) -> None:
    dns, ip = black_world
    t = time.monotonic()
    ms = run(_black_config(dns, ip, 5.0, 0.8), ["telegram", "signal"])
    took = time.monotonic() - t
    assert took < 1.5, took
    tg, sg = ms
    assert len(tg["test_keys"]["tcp_connect"]) == 12
    for m in ms:
        tk = m["test_keys"]
        for e in tk["queries"] + tk["requests"]:
            assert e["failure"] == "generic_timeout_error"
            assert e["t"] is not None
        for c in tk["tcp_connect"]:
            assert c["status"] == {"success": False, "failure": "generic_timeout_error"}
    assert sg["test_keys"]["signal_backend_status"] == "blocked"
    assert tg["test_keys"]["telegram_web_status"] == "blocked"


def test_system_resolver_is_one_any_query() -> None:
    from voipwatch.probe.dns import lookup_system

    rec = Recorder()
    lk = asyncio.run(lookup_system(rec, "localhost", timeout=2, executor=None, attempt=0))
    (q,) = rec.entries["queries"]
    assert q["engine"] == "getaddrinfo"
    assert q["query_type"] == "ANY"
    assert q["tags"] == ["system"]
    assert lk.failure is None
    assert lk.addrs
