"""Scenarios, the address plan, recipes → rules, the injector's packets, and the command.

None of these builds a world, so they run without root.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from voipwatch.catalog import load as load_catalog
from voipwatch.sim import ScenarioError, SimulationError, builtin_names, load_scenario
from voipwatch.sim.censor import compile_scenario, sni_pattern
from voipwatch.sim.plan import SIM_NET, TOOL, AddressPlan, build_plan
from voipwatch.sim.scenario import KINDS, parse

BUILTIN = [
    "baseline", "dns_nxdomain", "dns_bogon", "dns_injection", "dns_hijack_udp", "ip_drop",
    "ip_reject", "sni_reset", "sni_drop", "tls_mitm", "server_down", "loss", "combined",
    "all_timeout", "udp_port_drop", "udp_port_reject", "stun_dpi", "dtls_dpi", "sip_port_drop",
    "sip_dpi", "sni_throttle", "residual", "udp_allowlist", "relay_block", "calls_blocked",
    "rtp_dpi", "loss_calls", "helper_port_closed", "calls_port_drop_stun_dpi",
    "server_down_calls", "tcp_accept_all", "mtproto_dpi", "no_path_out", "tls_mitm_apps",
    "tool_restores", "tool_blocked", "tool_tcp_only",
]  # fmt: skip
# Built-in scenarios of the call plane: the probe measures both planes in them.
CALL_SCENARIOS = {
    "udp_port_drop", "udp_port_reject", "stun_dpi", "dtls_dpi", "sip_port_drop", "sip_dpi",
    "sni_throttle", "residual", "udp_allowlist", "relay_block", "calls_blocked", "rtp_dpi",
    "loss_calls", "helper_port_closed", "calls_port_drop_stun_dpi", "server_down_calls",
    "no_path_out", "tool_restores", "tool_blocked", "tool_tcp_only",
}  # fmt: skip


@pytest.fixture(scope="module")
def plan() -> AddressPlan:
    return build_plan(load_catalog())


def test_every_builtin_scenario_loads_and_compiles(plan: AddressPlan) -> None:
    assert sorted(builtin_names()) == sorted(BUILTIN)
    roles = load_catalog().roles
    for name in BUILTIN:
        s = load_scenario(name)
        assert s.name == name
        # Roles a scenario does not list must come out ok: baseline lists none.
        assert bool(s.expect) == bool(s.censor), name
        assert all(e.role in roles for e in s.expect), name
        compile_scenario(s, plan)
    kinds = {r.kind for n in BUILTIN for r in load_scenario(n).censor}
    assert kinds == set(KINDS)
    assert {n for n in BUILTIN if load_scenario(n).plane == "all"} == CALL_SCENARIOS


def test_address_plan_is_inside_the_simulation(plan: AddressPlan) -> None:
    addresses = [h.address for h in plan.hosts]
    assert len(addresses) == len(set(addresses))
    assert all(ipaddress.ip_address(a) in SIM_NET for a in addresses)
    catalog = load_catalog()
    dcs = catalog.roles["telegram/dc"].ips
    assert sorted(plan.overlay) == sorted(dcs)
    # One service per /24: a recipe can take a whole app, a role, a host or one DC.
    wa = {a.rsplit(".", 1)[0] for a in (h.address for h in plan.hosts if h.service == "whatsapp")}
    assert len(wa) == 1
    assert len(plan.match(role="telegram/dc")) == len(dcs)
    assert [h.catalog_ip for h in plan.match(ips=["149.154.175.50"])] == ["149.154.175.50"]
    assert plan.by_name["e1.whatsapp.net"].hold_ports == (5222,)
    assert "control.voipwatch.test" in plan.dns_records()


def test_recipes_become_rules(plan: AddressPlan) -> None:
    c = compile_scenario(load_scenario("combined"), plan)
    dc1 = plan.overlay["149.154.175.50"]
    assert c.forward_rules == [f"ip daddr {{ {dc1} }} counter drop"]
    assert "web.whatsapp.com" in c.nxdomain
    assert all(r[-3:] == ["REJECT", "--reject-with", "tcp-reset"] for r in c.iptables)
    assert "nft" in c.features
    loss = compile_scenario(load_scenario("loss"), plan)
    assert any(
        "numgen random mod 100 < 30 counter drop" in r and "ip saddr" in r
        for r in loss.forward_rules
    )
    hijack = compile_scenario(load_scenario("dns_hijack_udp"), plan)
    assert hijack.nat_rules == ['iifname "r0" udp dport 53 dnat to 198.18.3.53']
    assert "table ip voipwatch_nat" in hijack.nft_script()
    down = compile_scenario(load_scenario("server_down"), plan)
    assert plan.by_name["chat.signal.org"].address in down.down


def _compiled(plan: AddressPlan, body: str) -> Any:
    return compile_scenario(parse(f'name = "x"\n[[censor]]\n{body}\n'.encode(), "x"), plan)


def test_call_recipes_become_rules(plan: AddressPlan) -> None:
    """Each call-plane kind compiles to the rules in the notes, on any destination."""
    rules = compile_scenario(load_scenario("udp_port_drop"), plan).forward_rules
    assert rules == ["udp dport { 3478 } counter drop"]
    # Without ports, an app's or role's call-plane UDP ports; roles without hosts count.
    turn = _compiled(plan, 'kind = "udp_port_drop"\nrole = "signal/turn"')
    assert turn.forward_rules == ["udp dport { 443, 3478 } counter drop"]
    zoom = _compiled(plan, 'kind = "udp_port_reject"\nrole = "zoom/media"')
    assert zoom.forward_rules[0].startswith("udp dport { 8801, 8802,")
    assert zoom.forward_rules[0].endswith("reject with icmpx type port-unreachable")
    assert "nft" in zoom.features
    assert "icmp_reject" in zoom.features
    stun = compile_scenario(load_scenario("stun_dpi"), plan)
    assert stun.forward_rules == ["udp length >= 28 @th,96,32 0x2112a442 counter drop"]
    dtls = compile_scenario(load_scenario("dtls_dpi"), plan).forward_rules
    assert dtls == ["udp length >= 33 @th,64,8 0x16 @th,72,8 0xfe @th,168,8 0x01 counter drop"]
    rtp = compile_scenario(load_scenario("rtp_dpi"), plan).forward_rules
    assert rtp == ["udp length >= 20 @th,64,2 2 counter drop"]
    lossy = compile_scenario(load_scenario("loss_calls"), plan).forward_rules
    assert lossy == [
        "udp dport { 3478, 5004 } numgen random mod 100 < 20 counter drop",
        "udp sport { 3478, 5004 } numgen random mod 100 < 20 counter drop",
    ]
    sip = compile_scenario(load_scenario("sip_port_drop"), plan).forward_rules
    assert sip == ["udp dport { 5060 } counter drop",
                   "tcp dport { 5060, 5061 } counter reject with tcp reset"]  # fmt: skip
    dpi = compile_scenario(load_scenario("sip_dpi"), plan).iptables
    assert [r[r.index("-p") + 1] for r in dpi] == ["udp", "tcp"]
    assert all(r[-4:] == ["--string", "SIP/2.0", "-j", "DROP"] for r in dpi)
    relay = compile_scenario(load_scenario("relay_block"), plan).forward_rules
    assert relay == [f"ip daddr {{ {plan.by_name['turn3.voip.signal.org'].address} }} counter drop"]
    calls = compile_scenario(load_scenario("calls_blocked"), plan).forward_rules
    assert plan.by_name["sfu.voip.signal.org"].address in calls[0]
    assert f"{plan.by_name['chat.signal.org'].address}," not in calls[0]
    with pytest.raises(ScenarioError, match="no call-plane host"):
        _compiled(plan, 'kind = "relay_block"\nrole = "signal/chat"')
    with pytest.raises(ScenarioError, match="no simulated hosts"):
        _compiled(plan, 'kind = "stun_dpi"\napp = "nosuchapp"')


def test_throttle_residual_and_allowlist_rules(plan: AddressPlan) -> None:
    t = compile_scenario(load_scenario("sni_throttle"), plan)
    assert t.throttles == [(11, "128kbit")]
    marks = [r for r in t.iptables if "CONNMARK" in r]
    assert any(sni_pattern("web.whatsapp.com") in r for r in marks)
    assert all(r[:5] == ["-t", "mangle", "-A", "FORWARD", "-i"] for r in marks)
    assert t.iptables[-1][-4:] == ["-j", "CLASSIFY", "--set-class", "1:11"]
    tc = [" ".join(c) for c in t.tc_commands()]
    for dev in ("r0", "r1"):
        assert f"qdisc add dev {dev} root handle 1: htb default 99" in tc
        assert f"class add dev {dev} parent 1: classid 1:11 htb rate 128kbit ceil 128kbit" in tc
        assert f"qdisc add dev {dev} parent 1:11 handle 11: pfifo limit 16" in tc
    assert {"connmark", "classify", "htb", "string"} <= t.features
    with pytest.raises(ScenarioError, match="not like 128kbit"):
        _compiled(plan, 'kind = "sni_throttle"\napp = "signal"\nrate = "fast"')
    r = compile_scenario(load_scenario("residual"), plan)
    assert r.sets == [
        "set residual1 { type ipv4_addr . ipv4_addr . inet_proto . inet_service; "
        "flags dynamic, timeout; timeout 8s; }"
    ]
    assert r.forward_rules[0].endswith(
        "ip saddr . ip daddr . meta l4proto . th dport @residual1 counter drop"
    )
    assert "@th,96,32 0x2112a442 add @residual1" in r.forward_rules[1]
    assert "set residual1" in r.nft_script()
    sni = _compiled(plan, 'kind = "residual"\ntrigger = "sni"\nhost = "chat.signal.org"\n'
                          "residual_seconds = 5")  # fmt: skip
    assert "timeout 5s" in sni.sets[0]
    assert sni.iptables[0][-4:] == ["-j", "MARK", "--set-mark", "0x101"]
    assert sni.forward_rules[1].startswith("meta mark 0x101 add @residual1")
    allow = compile_scenario(load_scenario("udp_allowlist"), plan).forward_rules
    assert allow == [
        "meta l4proto udp ct direction original ip daddr != { 198.18.2.53 } "
        "udp dport != { 443 } counter drop"
    ]
    # A licensed app's hosts, and any address of the simulation (the helper), are allowed.
    lic = _compiled(plan, 'kind = "udp_allowlist"\nrole = "stun/public"\nips = ["198.18.2.90"]')
    assert plan.by_name["stun.l.google.com"].address in lic.forward_rules[0]
    assert "198.18.2.90" in lic.forward_rules[0]
    with pytest.raises(ScenarioError, match="neither a catalogue"):
        _compiled(plan, 'kind = "udp_allowlist"\nips = ["8.8.8.8"]')
    # loss on a call-plane role without hosts: its UDP ports, both directions, anywhere.
    loss = _compiled(plan, 'kind = "loss"\nrole = "whatsapp/relay"\npercent = 20')
    assert loss.forward_rules == [
        "udp dport { 3478 } numgen random mod 100 < 20 counter drop",
        "udp sport { 3478 } numgen random mod 100 < 20 counter drop",
    ]


def test_call_plane_plan(plan: AddressPlan) -> None:
    listens = plan.udp_listens()
    turn = plan.by_name["turn3.voip.signal.org"].address
    assert turn in listens[3478]
    assert turn in listens[443]
    assert plan.by_name["stun.l.google.com"].address in listens[19302]
    assert plan.by_name["stun.fbsbx.com"].address in listens[3478]
    assert plan.by_name["chat.signal.org"].address not in listens[3478]
    stun = plan.stun_servers()
    assert "stun.l.google.com:19302" in stun
    assert "stun.voys.nl:3478" in stun
    ports = plan.media_ports()
    assert {3478, 443, 8801, 19302, 42424} <= set(ports)
    assert 16402 not in ports
    assert len(ports) < 40
    assert plan.dns_records()["sip.voipwatch.test"] == "198.18.2.60"


def test_sni_pattern_is_the_length_prefixed_entry() -> None:
    assert sni_pattern("e1.whatsapp.net") == "|" + (b"\x00\x00\x0fe1.whatsapp.net").hex(" ") + "|"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n[[censor]]\nkind = "nope"\napp = "signal"\n', "unknown kind"),
        ('name = "x"\n[[censor]]\nkind = "residual"\ntrigger = "dns"\n', "trigger must be"),
        ('name = "x"\n[[censor]]\nkind = "residual"\ntrigger = "sni"\n', "needs app"),
        ('name = "x"\n[[censor]]\nkind = "residual"\nresidual_seconds = 0\n', "residual_sec"),
        ('name = "x"\n[[censor]]\nkind = "udp_port_drop"\n', "give ports"),
        ('name = "x"\n[[censor]]\nkind = "helper_port_closed"\n', "the test helper leaves"),
        ('name = "x"\nplane = "voice"\n', "plane must be"),
        ('name = "x"\n[[censor]]\nkind = "ip_drop"\n', "matches nothing"),
        ('name = "x"\n[[censor]]\nkind = "loss"\napp = "signal"\npercent = 120\n', "percent"),
        ('name = "x"\n[[censor]]\nkind = "ip_drop"\napp = "signal"\ncolour = 1\n', "colour"),
        ("name = ", "x.toml"),
        ('name = "x"\n[tool]\nkind = "openvpn"\n', "tool kind must be"),
        ('name = "x"\n[tool]\nkind = "dante"\nstatus = "slow"\n', "tool status must be"),
        ('name = "x"\n[[via]]\nrole = "signal/chat"\noutcome = "restored"\n', "need a"),
        (
            'name = "x"\n[tool]\nkind = "dante"\n[[via]]\nrole = "a/b"\noutcome = "ok"\n',
            "via outcome must be",
        ),
        ('name = "x"\n[[censor]]\nkind = "tool_drop"\n', "needs a \\[tool\\]"),
        ('name = "x"\n[timeouts]\nconnect = 0.1\n', "timeouts.connect must be"),
        ('name = "x"\n[timeouts]\nrun = 900\n', "timeouts.run must be"),
        ('name = "x"\n[timeouts]\nwait = 1\n', "wait"),
    ],
)
def test_bad_scenarios_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as info:
        parse(text.encode(), "x.toml")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ('app = "nosuchapp"', "no simulated hosts"),
        ('host = "example.org"', "not in the catalogue"),
        ('ips = ["8.8.8.8"]', "neither a catalogue nor a simulated address"),
    ],
)
def test_unknown_targets_are_errors(plan: AddressPlan, recipe: str, message: str) -> None:
    s = parse(f'name = "x"\n[[censor]]\nkind = "ip_drop"\n{recipe}\n'.encode(), "x.toml")
    with pytest.raises(ScenarioError, match=message):
        compile_scenario(s, plan)
    names = parse(b'name = "x"\n[[censor]]\nkind = "dns_nxdomain"\nrole = "telegram/dc"\n', "x")
    with pytest.raises(ScenarioError, match="no host names"):
        compile_scenario(names, plan)


def test_capability_errors_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from voipwatch.sim import capabilities

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SimulationError, match=r"is not installed .*scripts/install-system-deps"):
        capabilities.check_binaries()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SimulationError, match="needs root"):
        capabilities.check_root()


def test_probe_config_is_toml_with_the_contract() -> None:
    from voipwatch.sim.probe_config import render

    cfg = tomllib.loads(
        render(
            Path("/tmp/ca.pem"),
            {"149.154.175.50": "198.18.17.1"},
            location_db=Path("/tmp/location.mmdb"),
        )
    )
    p = cfg["probe"]
    # The probe locates itself in the world's test database: nothing stated here.
    assert "probe_cc" not in p
    assert "probe_asn" not in p
    assert (p["location_db"], p["retries"]) == (["/tmp/location.mmdb"], 2)
    assert p["control_sni"] == "control.voipwatch.test"
    assert p["resolvers"]["doh"] == ["https://dns.voipwatch.test/dns-query@198.18.2.53"]
    assert p["resolvers"]["dot"] == ["198.18.2.53#dns.voipwatch.test"]
    assert p["timeouts"]["run"] == 40
    short = tomllib.loads(render(Path("/ca"), {}, timeouts=load_scenario("tool_blocked").timeouts))
    assert short["probe"]["timeouts"] == {**p["timeouts"], "connect": 1}
    assert p["helper"]["url"] == "http://198.18.2.80:8080"
    assert cfg["overlay"]["ips"] == {"149.154.175.50": "198.18.17.1"}
    assert (
        "helper"
        not in tomllib.loads(render(Path("/ca"), {}, helper=False, media_keys=False))["probe"]
    )
    media = tomllib.loads(
        render(
            Path("/ca"), {}, media_helper="198.18.2.90", stun_servers=["s:3478"], media_keys=True
        )
    )["probe"]["helper"]
    assert media == {
        "url": "http://198.18.2.80:8080",
        "address": "198.18.2.90",
        "stun_servers": ["s:3478"],
        "media_seconds": 2,
        "throughput_bytes": 1000000,
    }


def _query_frame(name: str, qtype: int = 1) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    dns = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)
    udp = struct.pack("!HHHH", 40000, 53, 8 + len(dns), 0) + dns
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
        socket.inet_aton("198.18.0.2"), socket.inet_aton("198.18.2.53"),
    )  # fmt: skip
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp


def test_injector_forges_a_valid_answer() -> None:
    import dns.message

    from voipwatch.sim.injector import checksum, forge

    names = {"web.whatsapp.com": socket.inet_aton("198.18.250.66")}
    frame = forge(_query_frame("Web.WhatsApp.com"), names)
    assert frame is not None
    assert frame[:6] == b"\x04" * 6  # back to the sender
    ip = frame[14:34]
    assert checksum(ip) == 0
    assert ip[8] == 64  # IP TTL
    assert socket.inet_ntoa(ip[12:16]) == "198.18.2.53"  # from the resolver asked
    assert socket.inet_ntoa(ip[16:20]) == "198.18.0.2"
    udp = frame[34:]
    assert struct.unpack("!HH", udp[:4]) == (53, 40000)
    m = dns.message.from_wire(udp[8:])
    assert m.id == 0x1234
    assert [r.address for rr in m.answer for r in rr] == ["198.18.250.66"]
    assert forge(_query_frame("chat.signal.org"), names) is None
    assert forge(_query_frame("web.whatsapp.com", qtype=28), names) is None  # AAAA: left alone


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voipwatch.cli", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_simulate_usage_and_bad_files(tmp_path: Path) -> None:
    r = _cli("no_such_scenario")
    assert r.returncode == 2
    assert "no such scenario" in r.stderr
    assert "Traceback" not in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[[censor]]\nkind = "teleport"\napp = "signal"\n')
    r = _cli(str(bad))
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "unknown kind" in r.stderr
    assert _cli().returncode == 2


@pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI") != "true",
    reason="the simulator builds network namespaces: run the tests as root",
)
def test_simulate_runs_the_probe_in_the_world() -> None:
    """With the probe: JSON lines tagged with the scenario; without it: one clear line."""
    import json

    import typer.main

    from voipwatch.cli import app

    proc = subprocess.Popen(
        [sys.executable, "-m", "voipwatch.cli", "simulate", "baseline", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.communicate(timeout=300)
    r = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert "Traceback" not in r.stderr
    has_probe = "probe" in getattr(typer.main.get_command(app), "commands", {})
    if has_probe:
        assert r.returncode == 0, r.stderr
        lines = [json.loads(line) for line in r.stdout.splitlines()]
        assert lines
        assert all(v["scenario"] == "baseline" for v in lines)
    else:
        assert r.returncode == 1
        assert "the probe exited" in r.stderr
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"vw{proc.pid}x" not in left


def test_simulate_table_marks_expectations_with_alternatives() -> None:
    from voipwatch.sim.runner import _table_rows

    scenario = load_scenario("loss_calls")
    verdict = {
        "services": [
            {"role": "whatsapp/relay", "status": "degraded", "technique": "degraded.loss"},
            {"role": "webrtc/media", "status": "blocked", "technique": "media.dpi"},
            {"role": "sip/signalling", "status": "ok", "technique": None},
        ]
    }
    marks = {row[1]: row[4] for row in _table_rows(scenario, verdict)}
    assert marks == {
        "whatsapp/relay": "as expected",
        "webrtc/media": "expected ok or degraded",
        "sip/signalling": "",
    }


def test_simulate_table_marks_via_outcomes() -> None:
    from voipwatch.sim.runner import _table_rows

    scenario = load_scenario("tool_tcp_only")
    verdict = {
        "services": [],
        "via": [
            {"role": "whatsapp/relay", "outcome": "not_carried", "tool": "microsocks",
             "tool_status": "ok"},
            {"role": "skype/relay", "outcome": "still_blocked", "tool": "microsocks",
             "tool_status": "ok"},
            {"role": "sip/signalling", "outcome": "not_blocked", "tool": "microsocks",
             "tool_status": "ok"},
        ],
    }  # fmt: skip
    marks = {row[1]: (row[2], row[4]) for row in _table_rows(scenario, verdict)}
    assert marks == {
        "whatsapp/relay via microsocks (ok)": ("not_carried", "as expected"),
        "skype/relay via microsocks (ok)": ("still_blocked", "expected not_carried"),
    }


def test_accept_all_and_mtproto_recipes_become_rules(plan: AddressPlan) -> None:
    dc = plan.overlay["149.154.175.50"]
    accept = compile_scenario(load_scenario("tcp_accept_all"), plan)
    assert accept.accept_all
    (rule,) = accept.nat_rules
    assert rule.startswith('iifname "r0" ip daddr {')
    assert dc in rule
    assert rule.endswith("meta l4proto tcp dnat to 198.18.3.44:9")
    dpi = compile_scenario(load_scenario("mtproto_dpi"), plan)
    (argv,) = dpi.iptables
    assert argv[argv.index("--hex-string") + 1] == "|f1 8e 7e be|"
    assert dc in argv[argv.index("-d") + 1].split(",")
    assert argv[-2:] == ["-j", "DROP"]
    closed = compile_scenario(load_scenario("helper_port_closed"), plan)
    assert closed.helper_closed == {3478}
    assert not closed.forward_rules


def test_tool_drop_blocks_the_tools_server_only(plan: AddressPlan) -> None:
    s = parse(b'name = "x"\n[tool]\nkind = "dante"\n[[censor]]\nkind = "tool_drop"\n', "x.toml")
    cp = compile_scenario(s, plan)
    assert cp.forward_rules == [f"ip daddr {TOOL} counter drop"]
    assert "nft" in cp.features
    assert all(h.address != TOOL for h in plan.hosts)
