"""The simulator's call plane, recipe by recipe, checked from inside the client namespace.

Real coturn (STUN on the call-plane hosts' UDP ports), kamailio (SIP OPTIONS), the
simulator's UDP echo and nginx's ``/download`` behind real nft/iptables/tc rules.
Like ``test_sim_world.py``, this file doubles as the script its checks run in the
client (``python test_sim_calls.py CHECK ARGS...`` prints one JSON value). Every
wait is bounded. Needs root; skipped without it, except in CI (``CI=true``).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI") == "true"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and not IN_CI,
    reason="the simulator builds network namespaces: run the tests as root",
)

HERE = Path(__file__).resolve()
COOKIE = 0x2112A442

# ---------------------------------------------------------------------------------------
# Checks run inside the client namespace (plain Python, short timeouts).
# ---------------------------------------------------------------------------------------


def _error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"errno {exc.errno}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


def _exchange(address: str, port: int, payload: bytes, timeout: float) -> bytes | str:
    """One datagram out on a connected socket, the first answer back (or why not)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((address, port))
        try:
            s.send(payload)
            return s.recv(4096)
        except OSError as exc:
            return _error(exc)


def stun_request() -> tuple[bytes, bytes]:
    tid = os.urandom(12)
    return struct.pack("!HHI", 0x0001, 0, COOKIE) + tid, tid


def check_stun(address: str, port: str, timeout: str = "1.0") -> Any:
    """A STUN binding request: "ok" for a binding success with our transaction id."""
    request, tid = stun_request()
    answer = _exchange(address, int(port), request, float(timeout))
    if isinstance(answer, str):
        return answer
    ok = answer[:2] == b"\x01\x01" and answer[4:8] == struct.pack("!I", COOKIE)
    return "ok" if ok and answer[8:20] == tid else f"bad answer {answer[:20].hex()}"


def _payload(kind: str) -> bytes:
    if kind == "plain":  # RTP-like first byte, not STUN, not DTLS
        return b"\x80\x00" + os.urandom(30)
    if kind == "stun":
        return stun_request()[0]
    if kind == "dtls_hello":
        # DTLS 1.0 record (type 22, version fe ff, epoch 0, seq 0, length) + ClientHello.
        body = (
            b"\x01" + b"\x00\x00\x20" + b"\x00\x00" + b"\x00" * 6 + b"\x00\x00\x20" + b"\x00" * 32
        )
        return b"\x16\xfe\xff" + b"\x00" * 8 + len(body).to_bytes(2, "big") + body
    if kind == "rtp_inverted":  # an RTP header bit-inverted: version 1, not RTP
        return bytes(b ^ 0xFF for b in b"\x80\x00" + os.urandom(30))
    if kind == "dtls_data":  # application data record: not a handshake
        return b"\x17\xfe\xfd" + b"\x00\x01" + b"\x00" * 6 + b"\x00\x20" + os.urandom(32)
    if kind == "sip":
        return sip_options("udp", 5060)
    raise ValueError(kind)


def check_echo(address: str, port: str, kind: str = "plain", timeout: str = "1.0") -> Any:
    """A datagram to the UDP echo: "ok" when the same bytes come back."""
    payload = _payload(kind)
    answer = _exchange(address, int(port), payload, float(timeout))
    if isinstance(answer, str):
        return answer
    return "ok" if answer == payload else f"bad answer {answer[:20].hex()}"


def check_echo_rate(address: str, port: str, count: str = "300") -> Any:
    """The share of datagrams echoed within 1 s (each its own socket: no retries)."""
    import selectors

    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(int(count)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect((address, int(port)))
        s.send(b"\x80" + os.urandom(15))
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    ok = 0
    deadline = time.monotonic() + 1.0
    while (left := deadline - time.monotonic()) > 0 and sel.get_map():
        for key, _ in sel.select(left):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            sel.unregister(sock)
            try:
                sock.recv(64)
                ok += 1
            except OSError:
                pass
    for s in socks:
        s.close()
    return ok / int(count)


def sip_options(transport: str, port: int) -> bytes:
    branch = "z9hG4bK" + os.urandom(6).hex()
    return (
        f"OPTIONS sip:ping@sip.voipwatch.test SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} 198.18.0.2:{port};rport;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "To: <sip:ping@sip.voipwatch.test>\r\n"
        f"From: <sip:probe@voipwatch.test>;tag={os.urandom(4).hex()}\r\n"
        f"Call-ID: {os.urandom(8).hex()}@voipwatch.test\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def check_sip(address: str, port: str, transport: str = "udp", timeout: str = "1.0") -> Any:
    """SIP OPTIONS over UDP, TCP or TLS: the status line of the answer, or why none came."""
    if transport == "udp":
        answer = _exchange(address, int(port), sip_options("udp", 5060), float(timeout))
        return answer if isinstance(answer, str) else answer.split(b"\r\n")[0].decode()
    try:
        with socket.create_connection((address, int(port)), timeout=float(timeout)) as raw:
            s = raw
            if transport == "tls":
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                s = ctx.wrap_socket(raw, server_hostname="sip.voipwatch.test")
            s.sendall(sip_options(transport, int(port)))
            data = s.recv(4096)
    except OSError as exc:
        return _error(exc)
    return data.split(b"\r\n")[0].decode() if data else "closed"


def check_download(address: str, sni: str, seconds: str = "6", size: str = "1000000") -> Any:
    """GET /download over TLS with this SNI, for at most ``seconds``: the rate in kbit/s
    from the first body byte on (the handshake and request excluded)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    stop = time.monotonic() + float(seconds)
    got, first, last = 0, 0.0, 0.0
    try:
        with (
            socket.create_connection((address, 443), timeout=3) as raw,
            ctx.wrap_socket(raw, server_hostname=sni) as tls,
        ):
            tls.sendall(
                f"GET /download?bytes={size} HTTP/1.1\r\nHost: {sni}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = tls.recv(16384)
                if not chunk:
                    return "closed"
                head += chunk
            body = head.split(b"\r\n\r\n", 1)[1]
            first = last = time.monotonic()
            counted = 0  # bytes that arrived after the first body byte
            got = len(body)
            while got < int(size) and (left := stop - time.monotonic()) > 0:
                tls.settimeout(min(left, 3))
                try:
                    chunk = tls.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    break
                got += len(chunk)
                counted += len(chunk)
                last = time.monotonic()
    except (OSError, ssl.SSLError) as exc:
        return _error(exc)
    elapsed = max(last - first, 1e-6)
    return {"bytes": got, "seconds": round(elapsed, 3), "kbit": counted * 8 / elapsed / 1000}


def check_tls(address: str, sni: str, timeout: str = "1.5") -> Any:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((address, 443), timeout=float(timeout)) as raw,
            ctx.wrap_socket(raw, server_hostname=sni),
        ):
            return "ok"
    except (OSError, ssl.SSLError) as exc:
        return _error(exc)


def check_connect(address: str, port: str, timeout: str = "1.5") -> Any:
    try:
        with socket.create_connection((address, int(port)), timeout=float(timeout)):
            return "ok"
    except OSError as exc:
        return _error(exc)


def check_dns(server: str, name: str) -> Any:
    import dns.message
    import dns.query

    try:
        m = dns.query.udp(dns.message.make_query(name, "A"), server, timeout=1.5)
    except dns.exception.Timeout:
        return "timeout"
    return sorted(r.address for rr in m.answer for r in rr if hasattr(r, "address"))


def check_residual(address: str, port: str, other_port: str, seconds: str) -> Any:
    """Plain UDP on the 3-tuple before and after one STUN packet, until it passes again.

    Returns what each step saw and how long after the trigger the 3-tuple reopened.
    """
    out: dict[str, Any] = {"before": check_echo(address, port)}
    out["trigger"] = check_echo(address, port, "stun")
    triggered = time.monotonic()
    out["after"] = check_echo(address, port)  # a new socket: another source port
    out["other_port"] = check_echo(address, other_port)
    deadline = triggered + float(seconds) + 4
    out["reopened_after"] = None
    while time.monotonic() < deadline:
        if check_echo(address, port, "plain", "0.4") == "ok":
            out["reopened_after"] = round(time.monotonic() - triggered, 1)
            break
        time.sleep(0.2)
    return out


def check_residual_sni(address: str, sni: str, innocent: str, seconds: str) -> Any:
    """The SNI trigger: an innocent handshake to the same address and port fails after it."""
    out: dict[str, Any] = {"before": check_tls(address, innocent)}
    out["trigger"] = check_tls(address, sni, "1.0")
    triggered = time.monotonic()
    out["after"] = check_tls(address, innocent, "1.0")
    out["port_80"] = check_connect(address, "80")
    deadline = triggered + float(seconds) + 4
    out["reopened_after"] = None
    while time.monotonic() < deadline:
        if check_tls(address, innocent, "0.5") == "ok":
            out["reopened_after"] = round(time.monotonic() - triggered, 1)
            break
        time.sleep(0.2)
    return out


# ---------------------------------------------------------------------------------------
# Test plumbing
# ---------------------------------------------------------------------------------------


def check(world: Any, name: str, *args: str, timeout: float = 30.0) -> Any:
    """Run check_<name>(*args) in the client namespace and return its JSON result."""
    proc = world.run_in_client([sys.executable, str(HERE), name, *args], timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def world_for() -> Iterator[Any]:
    """Build a world for a scenario (built-in name or TOML text); torn down after the test."""
    from voipwatch.sim import World, load_scenario
    from voipwatch.sim.scenario import parse

    worlds: list[Any] = []

    def build(spec: str) -> Any:
        scenario = parse(spec.encode(), "test") if "\n" in spec else load_scenario(spec)
        w = World(scenario, helper=False)
        w.__enter__()
        worlds.append(w)
        return w

    yield build
    for w in worlds:
        w.__exit__(None, None, None)
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert w.prefix not in names
        assert subprocess.run(["pgrep", "-f", w.prefix], capture_output=True).stdout == b""


def addr(world: Any, name: str) -> str:
    address: str = world.plan.by_name[name].address
    return address


TURN = "turn3.voip.signal.org"
GOOGLE = "stun.l.google.com"
FB = "stun.fbsbx.com"


def _echo() -> str:
    from voipwatch.sim.plan import ECHO

    return ECHO


def _sip() -> str:
    from voipwatch.sim.plan import SIP

    return SIP


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------


def test_baseline_call_plane_answers(world_for: Any) -> None:
    import tomllib

    w = world_for("baseline")
    echo, sip = _echo(), _sip()
    assert check(w, "stun", addr(w, TURN), "3478") == "ok"
    assert check(w, "stun", addr(w, TURN), "443") == "ok"
    assert check(w, "stun", addr(w, GOOGLE), "19302") == "ok"
    assert check(w, "stun", addr(w, FB), "3478") == "ok"
    assert check(w, "echo", echo, "3478") == "ok"
    assert check(w, "echo", echo, "42424", "dtls_hello") == "ok"
    assert check(w, "sip", sip, "5060", "udp") == "SIP/2.0 200 OK"
    assert check(w, "sip", sip, "5060", "tcp") == "SIP/2.0 200 OK"
    assert check(w, "sip", sip, "5061", "tls", "3") == "SIP/2.0 200 OK"
    fast = check(w, "download", addr(w, "web.whatsapp.com"), "web.whatsapp.com")
    assert fast["bytes"] == 1_000_000
    helper = tomllib.loads(w.probe_config.read_text())["probe"].get("helper", {})
    if "stun_servers" in helper:  # the probe knows the call-plane keys
        assert f"{GOOGLE}:19302" in helper["stun_servers"]
        assert (helper["media_seconds"], helper["throughput_bytes"]) == (2, 1_000_000)


def test_udp_port_drop_and_reject(world_for: Any) -> None:
    w = world_for("udp_port_drop")
    echo = _echo()
    assert check(w, "stun", addr(w, TURN), "3478") == "timeout"
    assert check(w, "stun", addr(w, TURN), "443") == "ok"  # Signal's fallback port
    assert check(w, "echo", echo, "3478") == "timeout"  # any address, any payload
    assert check(w, "echo", echo, "42424") == "ok"
    w2 = world_for("udp_port_reject")
    assert check(w2, "stun", addr(w2, FB), "3478") == "refused"
    assert check(w2, "echo", echo, "3478") == "refused"
    assert check(w2, "stun", addr(w2, GOOGLE), "19302") == "ok"


def test_stun_dpi_any_port(world_for: Any) -> None:
    w = world_for("stun_dpi")
    echo = _echo()
    assert check(w, "stun", addr(w, TURN), "3478") == "timeout"
    assert check(w, "stun", addr(w, GOOGLE), "19302") == "timeout"
    assert check(w, "echo", echo, "42424", "stun") == "timeout"  # STUN on a high port too
    # Other UDP on the same ports passes.
    assert check(w, "echo", echo, "3478") == "ok"
    assert check(w, "echo", echo, "19302", "dtls_hello") == "ok"


def test_dtls_dpi(world_for: Any) -> None:
    w = world_for("dtls_dpi")
    echo = _echo()
    assert check(w, "echo", echo, "42424", "dtls_hello") == "timeout"
    assert check(w, "echo", echo, "443", "dtls_hello") == "timeout"
    assert check(w, "echo", echo, "42424", "dtls_data") == "ok"  # not a ClientHello
    assert check(w, "echo", echo, "42424") == "ok"
    assert check(w, "stun", addr(w, TURN), "3478") == "ok"


def test_rtp_dpi(world_for: Any) -> None:
    w = world_for("rtp_dpi")
    echo = _echo()
    assert check(w, "echo", echo, "42424") == "timeout"  # 0x80: an RTP header
    assert check(w, "echo", echo, "3478") == "timeout"
    assert check(w, "echo", echo, "42424", "rtp_inverted") == "ok"
    assert check(w, "echo", echo, "42424", "dtls_hello") == "ok"
    assert check(w, "stun", addr(w, TURN), "3478") == "ok"


def test_sip_port_drop_and_dpi(world_for: Any) -> None:
    w = world_for("sip_port_drop")
    echo, sip = _echo(), _sip()
    assert check(w, "sip", sip, "5060", "udp") == "timeout"
    assert check(w, "sip", sip, "5060", "tcp") == "refused"  # reset to the SYN
    assert check(w, "connect", sip, "5061") == "refused"
    assert check(w, "echo", echo, "42424", "sip") == "ok"  # SIP on another port passes
    w2 = world_for("sip_dpi")
    assert check(w2, "sip", sip, "5060", "udp") == "timeout"
    assert check(w2, "sip", sip, "5060", "tcp") == "timeout"  # the SYN passes, the request not
    assert check(w2, "connect", sip, "5060") == "ok"
    assert check(w2, "echo", echo, "42424", "sip") == "timeout"  # any port
    assert check(w2, "sip", sip, "5061", "tls", "3") == "SIP/2.0 200 OK"  # not readable
    assert check(w2, "echo", echo, "5060") == "ok"  # other payloads on SIP's port


def test_sni_throttle_128_kbit(world_for: Any) -> None:
    """The throttled SNI gets 128 kbit/s (within 25 %); the control SNI, same address, is fast."""
    from voipwatch.sim.plan import CONTROL_NAME

    w = world_for("sni_throttle")
    web = addr(w, "web.whatsapp.com")
    slow = check(w, "download", web, "web.whatsapp.com", "8")
    assert 96 <= slow["kbit"] <= 160, slow
    fast = check(w, "download", web, CONTROL_NAME, "6")
    assert fast["bytes"] == 1_000_000
    assert fast["kbit"] > 20_000, fast
    # Another app's name is not throttled either.
    other = check(w, "download", addr(w, "chat.signal.org"), "chat.signal.org", "6")
    assert other["bytes"] == 1_000_000


def test_residual_after_stun(world_for: Any) -> None:
    w = world_for(
        'name = "residual_short"\n[[censor]]\nkind = "residual"\ntrigger = "stun"\n'
        "residual_seconds = 4\n"
    )
    echo = _echo()
    seen = check(w, "residual", echo, "3478", "42424", "4", timeout=30)
    assert seen["before"] == "ok"
    assert seen["trigger"] == "timeout"
    assert seen["after"] == "timeout"  # innocent payload, new source port, same 3-tuple
    assert seen["other_port"] == "ok"
    assert seen["reopened_after"] is not None, seen
    assert 3.0 <= seen["reopened_after"] <= 7.0, seen


def test_residual_after_sni(world_for: Any) -> None:
    from voipwatch.sim.plan import CONTROL_NAME

    w = world_for(
        'name = "residual_sni"\n[[censor]]\nkind = "residual"\ntrigger = "sni"\n'
        'host = "chat.signal.org"\nresidual_seconds = 4\n'
    )
    chat = addr(w, "chat.signal.org")
    seen = check(w, "residual_sni", chat, "chat.signal.org", CONTROL_NAME, "4", timeout=30)
    assert seen["before"] == "ok"
    assert seen["trigger"] == "timeout"
    assert seen["after"] == "timeout"  # the control name, same address and port
    assert seen["port_80"] == "ok"
    assert seen["reopened_after"] is not None, seen
    assert 3.0 <= seen["reopened_after"] <= 7.0, seen


def test_udp_allowlist(world_for: Any) -> None:
    from voipwatch.sim.plan import RESOLVER

    w = world_for("udp_allowlist")
    echo = _echo()
    assert check(w, "echo", echo, "443") == "ok"  # the listed port
    assert check(w, "echo", echo, "3478") == "timeout"
    assert check(w, "stun", addr(w, TURN), "443") == "ok"
    assert check(w, "stun", addr(w, GOOGLE), "19302") == "timeout"
    assert check(w, "sip", _sip(), "5060", "udp") == "timeout"
    assert check(w, "dns", RESOLVER, TURN) == [addr(w, TURN)]  # DNS to the resolver stays
    assert check(w, "sip", _sip(), "5060", "tcp") == "SIP/2.0 200 OK"  # TCP untouched
    # An allowed address: everything to it passes.
    w2 = world_for(
        'name = "licensed"\n[[censor]]\nkind = "udp_allowlist"\n'
        f'ips = ["{echo}"]\nrole = "messenger/stun"\n'
    )
    assert check(w2, "echo", echo, "3478") == "ok"
    assert check(w2, "stun", addr(w2, FB), "3478") == "ok"
    assert check(w2, "stun", addr(w2, GOOGLE), "3478") == "timeout"


def test_relay_block_and_calls_blocked(world_for: Any) -> None:
    w = world_for("relay_block")
    turn = addr(w, TURN)
    assert check(w, "stun", turn, "3478") == "timeout"
    assert check(w, "stun", turn, "443") == "timeout"
    assert check(w, "connect", turn, "443") == "timeout"  # every protocol
    assert check(w, "stun", addr(w, FB), "3478") == "ok"
    assert check(w, "tls", addr(w, "chat.signal.org"), "chat.signal.org") == "ok"
    w2 = world_for("calls_blocked")
    # Messages work ...
    assert check(w2, "tls", addr(w2, "chat.signal.org"), "chat.signal.org") == "ok"
    assert check(w2, "tls", addr(w2, "storage.signal.org"), "storage.signal.org") == "ok"
    # ... calls do not: relay and SFU dropped, STUN filtered everywhere.
    assert check(w2, "connect", addr(w2, "sfu.voip.signal.org"), "443") == "timeout"
    assert check(w2, "stun", addr(w2, TURN), "443") == "timeout"
    assert check(w2, "stun", addr(w2, GOOGLE), "19302") == "timeout"
    assert check(w2, "echo", _echo(), "3478") == "ok"


def test_loss_on_a_call_plane_role(world_for: Any) -> None:
    """loss on a role without hosts (WhatsApp's relays) drops its UDP port, both ways."""
    w = world_for(
        'name = "relay_loss"\n[[censor]]\nkind = "loss"\nrole = "whatsapp/relay"\npercent = 40\n'
    )
    echo = _echo()
    rate = check(w, "echo_rate", echo, "3478", "300")
    assert 0.22 < rate < 0.5, rate  # 0.6 × 0.6 = 0.36 come back
    assert check(w, "echo_rate", echo, "42424", "100") > 0.97


if __name__ == "__main__":
    # Run as a script inside the client namespace: print the check's result as JSON.
    result = globals()[f"check_{sys.argv[1]}"](*sys.argv[2:])
    print(json.dumps(result))
