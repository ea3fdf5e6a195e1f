"""The simulated world, scenario by scenario, checked from inside the client namespace.

Each test builds a real world (namespaces, unbound, nginx, nft/iptables rules) and
runs small checks as the censored user: this file doubles as the script those checks
run (``python test_sim_world.py CHECK ARGS...`` prints one JSON value). Needs root;
skipped without it, except in CI (``CI=true``), where it must run.
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

# ---------------------------------------------------------------------------------------
# Checks run inside the client namespace (plain Python + dnspython, short timeouts).
# ---------------------------------------------------------------------------------------


def _error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"cert: {exc.verify_message}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"errno {exc.errno}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


def check_resolve(name: str) -> Any:
    """The system resolver (the client's /etc/resolv.conf: the ISP resolver)."""
    try:
        return sorted({a[4][0] for a in socket.getaddrinfo(name, 443, socket.AF_INET)})
    except socket.gaierror as exc:
        return f"gaierror {exc.errno}"


def check_udp_answers(server: str, name: str, window: str = "1.0") -> Any:
    """Every answer to one UDP query that arrives within the window, with its IP TTL."""
    import dns.message
    import dns.rcode

    q = dns.message.make_query(name, "A")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVTTL", 12), 1)  # Linux value
    s.connect((server, 53))
    s.send(q.to_wire())
    answers = []
    deadline = time.monotonic() + float(window)
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(4))
        except TimeoutError:
            break
        ttl = next((struct.unpack("i", d[:4])[0] for _, _, d in anc), None)
        m = dns.message.from_wire(data)
        ips = sorted(r.address for rr in m.answer for r in rr if hasattr(r, "address"))
        answers.append({"rcode": dns.rcode.to_text(m.rcode()), "ips": ips, "ttl": ttl})
    return answers


def _ips(m: Any) -> Any:
    import dns.rcode

    if m.rcode() != 0:
        return dns.rcode.to_text(m.rcode())
    return sorted(r.address for rr in m.answer for r in rr if hasattr(r, "address"))


def check_tcp_dns(server: str, name: str) -> Any:
    import dns.message
    import dns.query

    return _ips(dns.query.tcp(dns.message.make_query(name, "A"), server, timeout=3))


def check_dot(server: str, tls_name: str, name: str, ca: str) -> Any:
    import dns.message
    import dns.query

    ctx = ssl.create_default_context(cafile=ca)
    q = dns.message.make_query(name, "A")
    return _ips(dns.query.tls(q, server, timeout=3, ssl_context=ctx, server_hostname=tls_name))


def check_doh(url: str, address: str, name: str, ca: str) -> Any:
    import dns.message
    import dns.query

    q = dns.message.make_query(name, "A")
    return _ips(dns.query.https(q, url, timeout=5, bootstrap_address=address, verify=ca))


def check_tls(address: str, sni: str, ca: str = "", timeout: str = "2") -> Any:
    """A TLS handshake to address:443 with this SNI; verified against ``ca`` when given."""
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((address, 443), timeout=float(timeout)) as raw,
            ctx.wrap_socket(raw, server_hostname=sni) as tls,
        ):
            issuer = dict(x[0] for x in tls.getpeercert()["issuer"]) if ca else {}
            return {"ok": tls.version(), "issuer": issuer.get("commonName", "")}
    except (OSError, ssl.SSLError) as exc:
        return _error(exc)


def check_https(address: str, host: str, ca: str, path: str = "/") -> Any:
    import http.client

    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection(address, 443, timeout=3, context=ctx)
    conn._tunnel_host = None  # plain connection to the address, SNI below
    try:
        conn.sock = ctx.wrap_socket(
            socket.create_connection((address, 443), timeout=3), server_hostname=host
        )
        conn.request("GET", path, headers={"Host": host})
        return conn.getresponse().status
    except (OSError, ssl.SSLError) as exc:
        return _error(exc)
    finally:
        conn.close()


def check_http_post(address: str, port: str) -> Any:
    """OONI's Telegram test: a plain HTTP POST to a DC on port 80 or 443."""
    import http.client

    conn = http.client.HTTPConnection(address, int(port), timeout=3)
    try:
        conn.request("POST", "/", body=b"")
        return conn.getresponse().status
    except OSError as exc:
        return _error(exc)
    finally:
        conn.close()


def check_connect(address: str, port: str, timeout: str = "2") -> Any:
    try:
        with socket.create_connection((address, int(port)), timeout=float(timeout)):
            return "ok"
    except OSError as exc:
        return _error(exc)


def check_connect_rate(address: str, port: str, attempts: str = "200") -> Any:
    """The share of parallel TCP connects (no retransmission) that succeed within 0.8 s."""
    import selectors

    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(int(attempts)):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((address, int(port)))
        sel.register(s, selectors.EVENT_WRITE)
        socks.append(s)
    ok = 0
    deadline = time.monotonic() + 0.8
    while (left := deadline - time.monotonic()) > 0 and sel.get_map():
        for key, _ in sel.select(left):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            sel.unregister(s)
            ok += s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    for s in socks:
        s.close()
    return ok / int(attempts)


# ---------------------------------------------------------------------------------------
# Test plumbing
# ---------------------------------------------------------------------------------------


def check(world: Any, name: str, *args: str, timeout: float = 20.0) -> Any:
    """Run check_<name>(*args) in the client namespace and return its JSON result."""
    proc = world.run_in_client([sys.executable, str(HERE), name, *args], timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def world_for(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Build a world for a scenario (built-in name or Scenario); torn down after the test."""
    from voipwatch.sim import World, load_scenario

    worlds: list[Any] = []

    def build(spec: Any) -> Any:
        scenario = load_scenario(spec) if isinstance(spec, str) else spec
        w = World(scenario, helper=True)
        w.__enter__()
        worlds.append(w)
        return w

    yield build
    for w in worlds:
        w.__exit__(None, None, None)
        assert_nothing_left(w)


def assert_nothing_left(world: Any) -> None:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert world.prefix not in names
    assert not Path(f"/etc/netns/{world.client}").exists()
    left = subprocess.run(["pgrep", "-f", world.prefix], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout
    tmp = subprocess.run(["pgrep", "-f", "voipwatch-sim-" + world.prefix], capture_output=True)
    assert tmp.stdout.strip() == b""
    assert not list(Path("/tmp").glob(f"voipwatch-sim-{world.prefix}-*"))


def addr(world: Any, name: str) -> str:
    address: str = world.plan.by_name[name].address
    return address


def ca(world: Any) -> str:
    return str(world.ca_file)


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------


def test_baseline_every_server_answers(world_for: Any) -> None:
    from voipwatch.sim.plan import CONTROL_NAME, RESOLVER, RESOLVER_NAME

    w = world_for("baseline")
    web = addr(w, "web.whatsapp.com")
    assert check(w, "resolve", "web.whatsapp.com") == [web]
    assert check(w, "resolve", "nonexistent.example") == f"gaierror {socket.EAI_NONAME}"
    udp = check(w, "udp_answers", RESOLVER, "chat.signal.org", "0.5")
    assert [a["ips"] for a in udp] == [[addr(w, "chat.signal.org")]]
    assert check(w, "tcp_dns", RESOLVER, "v.whatsapp.net") == [addr(w, "v.whatsapp.net")]
    assert check(w, "dot", RESOLVER, RESOLVER_NAME, "e5.whatsapp.net", ca(w)) == [
        addr(w, "e5.whatsapp.net")
    ]
    url = f"https://{RESOLVER_NAME}/dns-query"
    assert check(w, "doh", url, RESOLVER, "web.telegram.org", ca(w)) == [
        addr(w, "web.telegram.org")
    ]
    # TLS verified with the simulation CA; the control SNI on the same address answers too.
    assert check(w, "tls", web, "web.whatsapp.com", ca(w))["issuer"] == "voipwatch simulation CA"
    assert "ok" in check(w, "tls", web, CONTROL_NAME)
    assert check(w, "https", addr(w, "v.whatsapp.net"), "v.whatsapp.net", ca(w), "/v2/register")
    # Telegram DCs: plain HTTP on 80 and 443 at the overlay address of the catalogue IP.
    dc = w.plan.overlay["149.154.175.50"]
    assert check(w, "http_post", dc, "80") == 200
    assert check(w, "http_post", dc, "443") == 200
    assert check(w, "connect", addr(w, "e1.whatsapp.net"), "5222") == "ok"
    assert check(w, "connect", addr(w, "e16.whatsapp.net"), "443") == "ok"


def test_probe_config_points_at_the_world(world_for: Any) -> None:
    import tomllib

    w = world_for("baseline")
    cfg = tomllib.loads(w.probe_config.read_text())
    assert cfg["probe"]["ca_file"] == str(w.ca_file)
    assert cfg["probe"]["routable"] == ["198.18.0.0/15"]
    assert cfg["probe"]["resolvers"]["udp"] == ["198.18.2.53"]
    assert cfg["overlay"]["ips"]["149.154.175.50"].startswith("198.18.")
    argv = w.probe_argv(["--apps", "whatsapp"])
    assert argv[:5] == [sys.executable, "-m", "voipwatch.cli", "probe", "--yes"]
    assert str(w.probe_config) in argv


def test_no_packet_can_leave(world_for: Any) -> None:
    """No device of the world in the host's namespace; every route stays in 198.18/15."""
    import ipaddress

    w = world_for("baseline")
    sim = ipaddress.ip_network("198.18.0.0/15")
    host_links = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout
    ours = {w.client, w.censor, w.inet}
    for ns in ours:
        links = json.loads(
            subprocess.run(
                ["ip", "-n", ns, "-j", "-d", "link"], capture_output=True, text=True
            ).stdout
        )
        ids = subprocess.run(
            ["ip", "-n", ns, "netns", "list-id"], capture_output=True, text=True
        ).stdout
        for link in links:
            if link["ifname"] == "lo":
                continue
            assert link.get("linkinfo", {}).get("info_kind") == "veth", link["ifname"]
            # The veth's peer is in one of the world's namespaces, never the host's.
            peer_ns = [line for line in ids.splitlines() if f"nsid {link['link_netnsid']} " in line]
            assert peer_ns, (ns, link["ifname"], ids)
            assert any(o in peer_ns[0] for o in ours), peer_ns
            assert f'"ifname":"{link["ifname"]}"' not in host_links or link["ifname"] == "lo"
        routes = json.loads(
            subprocess.run(["ip", "-n", ns, "-j", "route"], capture_output=True, text=True).stdout
        )
        for route in routes:
            if "gateway" in route:
                assert ipaddress.ip_address(route["gateway"]) in sim, (ns, route)
            if route["dst"] == "default":
                assert ns == w.client, (ns, route)


def test_dns_nxdomain(world_for: Any) -> None:
    from voipwatch.sim.plan import RESOLVER

    w = world_for("dns_nxdomain")
    assert check(w, "resolve", "web.whatsapp.com") == f"gaierror {socket.EAI_NONAME}"
    isp = check(w, "udp_answers", "198.18.0.1", "e1.whatsapp.net", "0.5")
    assert [a["rcode"] for a in isp] == ["NXDOMAIN"]
    # The public resolver tells the truth; other apps resolve through the ISP.
    assert check(w, "tcp_dns", RESOLVER, "e1.whatsapp.net") == [addr(w, "e1.whatsapp.net")]
    assert check(w, "resolve", "chat.signal.org") == [addr(w, "chat.signal.org")]


def test_dns_bogon(world_for: Any) -> None:
    w = world_for("dns_bogon")
    assert check(w, "resolve", "chat.signal.org") == ["10.10.34.35"]
    assert check(w, "resolve", "web.whatsapp.com") == [addr(w, "web.whatsapp.com")]


def test_dns_injection_two_answers(world_for: Any) -> None:
    from voipwatch.sim.plan import RESOLVER, SINKHOLE

    w = world_for("dns_injection")
    genuine = addr(w, "web.whatsapp.com")
    answers = check(w, "udp_answers", RESOLVER, "web.whatsapp.com", "1.0")
    assert sorted(a["ips"][0] for a in answers) == sorted([genuine, SINKHOLE])
    forged = next(a for a in answers if a["ips"] == [SINKHOLE])
    real = next(a for a in answers if a["ips"] == [genuine])
    assert forged["ttl"] == 64
    assert real["ttl"] < 64
    # The ISP resolver's queries are injected too; other names get one answer.
    isp = check(w, "udp_answers", "198.18.0.1", "e3.whatsapp.net", "1.0")
    assert {a["ips"][0] for a in isp} == {addr(w, "e3.whatsapp.net"), SINKHOLE}
    assert len(check(w, "udp_answers", RESOLVER, "chat.signal.org", "0.5")) == 1
    # The sinkhole accepts nothing.
    assert check(w, "connect", SINKHOLE, "443", "1") == "timeout"


def test_dns_hijack_udp_only(world_for: Any) -> None:
    from voipwatch.sim.plan import RESOLVER, RESOLVER_NAME, SINKHOLE

    w = world_for("dns_hijack_udp")
    genuine = addr(w, "web.whatsapp.com")
    udp = check(w, "udp_answers", RESOLVER, "web.whatsapp.com", "0.5")
    assert [a["ips"] for a in udp] == [[SINKHOLE]]
    assert check(w, "resolve", "web.whatsapp.com") == [SINKHOLE]
    assert check(w, "tcp_dns", RESOLVER, "web.whatsapp.com") == [genuine]
    assert check(w, "dot", RESOLVER, RESOLVER_NAME, "web.whatsapp.com", ca(w)) == [genuine]
    # Unmatched names pass through the lying resolver unchanged.
    udp = check(w, "udp_answers", RESOLVER, "chat.signal.org", "0.5")
    assert [a["ips"] for a in udp] == [[addr(w, "chat.signal.org")]]


def test_ip_drop_and_reject(world_for: Any) -> None:
    w = world_for("ip_drop")
    dc = w.plan.overlay["149.154.167.51"]
    assert check(w, "connect", dc, "80", "1") == "timeout"
    assert check(w, "connect", addr(w, "web.telegram.org"), "443", "1") == "timeout"
    assert check(w, "connect", addr(w, "web.whatsapp.com"), "443") == "ok"
    w2 = world_for("ip_reject")
    assert check(w2, "connect", addr(w2, "e2.whatsapp.net"), "5222") == "refused"
    assert check(w2, "connect", w2.plan.overlay["149.154.167.51"], "443") == "ok"


def test_sni_reset_and_drop(world_for: Any) -> None:
    from voipwatch.sim.plan import CONTROL_NAME

    w = world_for("sni_reset")
    chat = addr(w, "chat.signal.org")
    assert check(w, "tls", chat, "chat.signal.org", ca(w)) == "reset"
    assert "ok" in check(w, "tls", chat, CONTROL_NAME)  # same IP, another name: fine
    assert check(w, "connect", chat, "443") == "ok"  # the SYN passes
    # Length-prefixed match: cdn.signal.org is blocked, a longer name containing it is not.
    assert check(w, "tls", addr(w, "cdn.signal.org"), "cdn.signal.org", ca(w)) == "reset"
    assert "ok" in check(w, "tls", chat, "xcdn.signal.org.example")
    w2 = world_for("sni_drop")
    web = addr(w2, "web.whatsapp.com")
    assert check(w2, "tls", web, "web.whatsapp.com", ca(w2), "1.5") == "timeout"
    assert "ok" in check(w2, "tls", web, CONTROL_NAME)


def test_tls_mitm(world_for: Any) -> None:
    w = world_for("tls_mitm")
    chat = addr(w, "chat.signal.org")
    result = check(w, "tls", chat, "chat.signal.org", ca(w))
    # The censor's chain ends in its own root: OpenSSL says "self-signed certificate in
    # certificate chain" (OONI's ssl_unknown_authority).
    assert result.startswith("cert: "), result
    assert "ok" in check(w, "tls", chat, "chat.signal.org")  # unverified: the MITM answers
    other = check(w, "tls", addr(w, "web.whatsapp.com"), "web.whatsapp.com", ca(w))
    assert other["issuer"] == "voipwatch simulation CA"


def test_server_down(world_for: Any) -> None:
    w = world_for("server_down")
    assert check(w, "connect", addr(w, "chat.signal.org"), "443") == "refused"
    assert check(w, "resolve", "chat.signal.org") == [addr(w, "chat.signal.org")]
    # Down for everyone: the inside of the internet cannot reach it either.
    from voipwatch.sim import netns

    outside = netns.run(
        [sys.executable, str(HERE), "connect", addr(w, "chat.signal.org"), "443"], ns=w.inet
    )
    assert json.loads(outside.stdout) == "refused"
    assert check(w, "connect", addr(w, "web.whatsapp.com"), "443") == "ok"


def test_loss_rate(world_for: Any) -> None:
    w = world_for("loss")
    # 30 % each way: a connect needs the SYN and the SYN-ACK, so about 0.7² = 0.49 succeed.
    rate = check(w, "connect_rate", addr(w, "web.whatsapp.com"), "443", "300")
    assert 0.33 < rate < 0.65, rate
    assert check(w, "connect_rate", addr(w, "chat.signal.org"), "443", "100") > 0.97


def test_combined_one_dc(world_for: Any) -> None:
    w = world_for("combined")
    assert check(w, "resolve", "web.whatsapp.com") == f"gaierror {socket.EAI_NONAME}"
    assert check(w, "tls", addr(w, "chat.signal.org"), "chat.signal.org", ca(w)) == "reset"
    assert check(w, "connect", w.plan.overlay["149.154.175.50"], "443", "1") == "timeout"
    assert check(w, "connect", w.plan.overlay["149.154.167.51"], "443") == "ok"


def test_teardown_on_exception_and_sigterm(tmp_path: Path) -> None:
    from voipwatch.sim import World, load_scenario

    w = World(load_scenario("dns_injection"))
    with pytest.raises(RuntimeError), w:
        raise RuntimeError("boom")
    assert_nothing_left(w)
    # A simulate process killed with SIGTERM in the middle of a run leaves nothing.
    script = tmp_path / "hang.py"
    script.write_text(
        "import sys, time\n"
        "from voipwatch.sim import World, load_scenario\n"
        "with World(load_scenario('sni_reset')) as w:\n"
        "    print(w.prefix, flush=True)\n"
        "    w.run_in_client(['sleep', '30'], timeout=60)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    prefix = proc.stdout.readline().strip()
    assert prefix.startswith("vw")
    time.sleep(0.3)
    proc.terminate()
    assert proc.wait(timeout=20) != 0
    proc.stdout.close()
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in names
    assert not list(Path("/tmp").glob(f"voipwatch-sim-{prefix}-*"))
    assert subprocess.run(["pgrep", "-f", prefix], capture_output=True).stdout == b""


def test_cleanup_stale_removes_a_crashed_run() -> None:
    """A run killed with SIGKILL leaves a world behind; the next build removes it."""
    from voipwatch.sim import cleanup_stale

    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import os\nfrom voipwatch.sim import World, load_scenario\n"
         "w = World(load_scenario('baseline'))\nw.build()\nprint(w.prefix, flush=True)\n"
         "os.kill(os.getpid(), 9)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    prefix = proc.stdout.readline().strip()
    proc.wait(timeout=30)
    proc.stdout.close()
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix
    removed = cleanup_stale()
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        # Alone, this cleanup is the one that finds the crashed world; beside other
        # test workers, another world's build may run the same cleanup first, and
        # what follows still checks that nothing of the crashed run is left.
        assert prefix in names
        assert any(prefix in r for r in removed)
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in names
    assert not Path(f"/etc/netns/{prefix}-client").exists()
    assert not list(Path("/tmp").glob(f"voipwatch-sim-{prefix}-*"))
    assert subprocess.run(["pgrep", "-f", prefix], capture_output=True).stdout == b""


if __name__ == "__main__":
    # Run as a script inside the client namespace: print the check's result as JSON.
    result = globals()[f"check_{sys.argv[1]}"](*sys.argv[2:])
    print(json.dumps(result))
