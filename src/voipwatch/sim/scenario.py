"""Scenario files: a name, a description, censor recipes and the expected verdicts.

::

    name = "sni_reset"
    description = "Signal's TLS handshakes are reset on their SNI"

    [[censor]]
    kind = "sni_reset"
    app = "signal"            # or role = "signal/chat", host(s) = [...], ips = [...]

    [[expect]]
    role = "signal/chat"
    status = "blocked"
    technique = "tls.reset"

A scenario may put a circumvention tool in the world (``[tool]``: a real server from
Debian packages, see :mod:`voipwatch.sim.tools`); the probe then also runs through
it (``--via``), and ``[[via]]`` says the outcome expected per role::

    [tool]
    kind = "dante"            # dante | shadowsocks | microsocks | tinyproxy
    status = "ok"             # what the probe must find of the tool: ok | blocked

    [[via]]
    role = "whatsapp/endpoints"
    outcome = "restored"      # restored | still_blocked | not_carried

A scenario that drops a path may shorten the probe's timeouts (``[timeouts]``:
``dns``, ``connect``, ``tls``, ``http``, ``run``; defaults in
:class:`voipwatch.sim.probe_config.Timeouts`) where its verdicts do not depend on
how long the probe waits: a dropped path times out after one second as after three::

    [timeouts]
    connect = 1

Built-in scenarios ship in ``scenarios/``; any path to such a file works too.
"""

from __future__ import annotations

import importlib.resources
import zlib
from pathlib import Path
from typing import Any

import msgspec
import msgspec.structs

from voipwatch.sim.errors import ScenarioError
from voipwatch.sim.probe_config import Timeouts

# The recipes this simulator builds: the signalling plane's, then the call plane's.
CALL_KINDS = (
    "udp_port_drop",
    "udp_port_reject",
    "stun_dpi",
    "dtls_dpi",
    "rtp_dpi",
    "sip_port_drop",
    "sip_dpi",
    "sni_throttle",
    "residual",
    "udp_allowlist",
    "relay_block",
)
KINDS = (
    "dns_nxdomain",
    "dns_bogon",
    "dns_injection",
    "dns_hijack_udp",
    "ip_drop",
    "ip_reject",
    "sni_reset",
    "sni_drop",
    "tls_mitm",
    "server_down",
    "loss",
    "helper_port_closed",
    "tcp_accept_all",
    "mtproto_dpi",
    "no_path_out",
    "tool_drop",
    *CALL_KINDS,
)
PLANNED_KINDS: tuple[str, ...] = ()
# Kinds about a port or a protocol: they hit every destination (the apps' hosts and the
# test helper alike), so a matcher is optional (an app or role names the ports).
ANYWHERE_KINDS = (
    "udp_port_drop",
    "udp_port_reject",
    "stun_dpi",
    "dtls_dpi",
    "rtp_dpi",
    "sip_port_drop",
    "sip_dpi",
    "residual",
    "udp_allowlist",
    "helper_port_closed",
    "no_path_out",
    "tool_drop",
)
TRIGGERS = ("stun", "sni")
MAX_RUN_SECONDS = 170
PLANES = ("signalling", "media", "all")


class Recipe(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One censor recipe: a kind, what it matches, and its parameters."""

    kind: str
    app: str = ""
    role: str = ""
    host: str = ""
    hosts: list[str] = []
    ips: list[str] = []
    port: int = 0
    ports: list[int] = []
    percent: int = 30  # loss: share of packets dropped in each direction
    answer: str = ""  # the forged address of dns_bogon, dns_injection, dns_hijack_udp
    rate: str = "128kbit"  # sni_throttle: the rate of the throttled flows (tc units)
    trigger: str = "stun"  # residual: what starts it (a STUN packet, or the names' SNI)
    residual_seconds: int = 60  # residual: how long the 3-tuple stays blocked

    @property
    def all_hosts(self) -> list[str]:
        return [self.host, *self.hosts] if self.host else list(self.hosts)

    @property
    def all_ports(self) -> list[int]:
        return sorted({self.port, *self.ports} - {0})


class Expect(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A verdict the probe should reach for one role in this scenario.

    ``status`` may list alternatives where the truth allows several (a lossy path
    is ``ok`` or ``degraded``, never ``blocked``); ``confirmed`` says whether a
    control must have isolated the technique. Roles a scenario does not list must
    come out ``ok``.
    """

    role: str
    status: str | list[str]
    technique: str = ""
    confirmed: bool | None = None
    note: str = ""

    @property
    def statuses(self) -> list[str]:
        return [self.status] if isinstance(self.status, str) else list(self.status)

    def matches(self, status: str, technique: str | None, confirmed: bool) -> bool:
        if status not in self.statuses:
            return False
        if status in ("blocked", "partial") and (technique or "") != self.technique:
            return False
        return self.confirmed is None or confirmed == self.confirmed


class Place(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where a world's client is, as its test location database says: a test
    country (ISO 3166's user-assigned ``XA``..``XZ``), a private-use AS number and a
    network name. Unset fields come from the scenario's name (:func:`place_of`)."""

    cc: str = ""
    asn: int = 0
    network_name: str = ""


TOOL_KINDS = ("dante", "shadowsocks", "microsocks", "tinyproxy")
OUTCOMES = ("restored", "still_blocked", "not_carried", "not_blocked")


class Tool(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The circumvention tool of a scenario, and what the probe must find of it."""

    kind: str
    status: str = "ok"


class ExpectVia(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The outcome expected for one role through the tool. Roles a scenario does
    not list must come out ``not_blocked`` (their direct path works)."""

    role: str
    outcome: str | list[str]
    note: str = ""

    @property
    def outcomes(self) -> list[str]:
        return [self.outcome] if isinstance(self.outcome, str) else list(self.outcome)


class Scenario(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    description: str = ""
    censor: list[Recipe] = []
    expect: list[Expect] = []
    tool: Tool | None = None
    via: list[ExpectVia] = []
    plane: str = "signalling"  # what the probe measures: signalling, media or all
    # The probe's residual check (``--residual``): seconds it waits for a block to lift
    # (longer than the scenario's ``residual_seconds``); 0: no check.
    residual_wait: float = 0.0
    location: Place = Place()
    timeouts: Timeouts = Timeouts()


def place_of(scenario: Scenario) -> Place:
    """The world's test location: the scenario's ``[location]``, the rest derived from
    its name, so that worlds of different scenarios are in different test countries
    and networks."""
    h = zlib.crc32(scenario.name.encode())
    loc = scenario.location
    return Place(
        cc=loc.cc or f"X{chr(ord('A') + h % 26)}",
        asn=loc.asn or 64512 + h % 1000,
        network_name=loc.network_name or f"voipwatch test network ({scenario.name})",
    )


def builtin_names() -> list[str]:
    folder = importlib.resources.files("voipwatch.sim") / "scenarios"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def parse(data: bytes, source: str) -> Scenario:
    try:
        scenario = msgspec.toml.decode(data, type=Scenario)
    except msgspec.DecodeError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    loc = scenario.location
    if loc.cc and not (len(loc.cc) == 2 and loc.cc.isascii() and loc.cc.isupper()):
        raise ScenarioError(f"{source}: location.cc {loc.cc!r} is not a two-letter code")
    if not 0 <= loc.asn < 2**32:
        raise ScenarioError(f"{source}: location.asn {loc.asn} is not an AS number")
    for i, r in enumerate(scenario.censor, start=1):
        where = f"{source}: censor recipe {i} ({r.kind})"
        if r.kind in PLANNED_KINDS:
            raise ScenarioError(f"{where}: this kind is not supported by the simulator yet")
        if r.kind not in KINDS:
            raise ScenarioError(f"{where}: unknown kind; known kinds: {', '.join(KINDS)}")
        matched = r.app or r.role or r.all_hosts or r.ips
        if not matched and r.kind not in ANYWHERE_KINDS:
            raise ScenarioError(f"{where}: matches nothing (give app, role, host(s) or ips)")
        if not 0 <= r.percent <= 100:
            raise ScenarioError(f"{where}: percent must be between 0 and 100")
        if any(not 0 < p < 65536 for p in r.all_ports):
            raise ScenarioError(f"{where}: ports must be between 1 and 65535")
        if r.kind == "residual" and r.trigger not in TRIGGERS:
            raise ScenarioError(f"{where}: trigger must be one of {', '.join(TRIGGERS)}")
        if r.kind == "residual" and not 1 <= r.residual_seconds <= 3600:
            raise ScenarioError(f"{where}: residual_seconds must be between 1 and 3600")
        if r.kind == "residual" and r.trigger == "sni" and not matched:
            raise ScenarioError(f"{where}: an SNI trigger needs app, role or host(s)")
        if r.kind in ("udp_port_drop", "udp_port_reject") and not (r.all_ports or r.app or r.role):
            raise ScenarioError(f"{where}: give ports, or an app or role whose ports to block")
        if r.kind == "helper_port_closed" and not r.all_ports:
            raise ScenarioError(f"{where}: give the UDP ports the test helper leaves closed")
    if scenario.tool is not None and scenario.tool.kind not in TOOL_KINDS:
        raise ScenarioError(f"{source}: tool kind must be one of {', '.join(TOOL_KINDS)}")
    if scenario.tool is not None and scenario.tool.status not in ("ok", "blocked"):
        raise ScenarioError(f"{source}: tool status must be ok or blocked")
    for v in scenario.via:
        if not v.outcomes or any(o not in OUTCOMES for o in v.outcomes):
            raise ScenarioError(f"{source}: via outcome must be one of {', '.join(OUTCOMES)}")
    if scenario.via and scenario.tool is None:
        raise ScenarioError(f"{source}: [[via]] expectations need a [tool]")
    if any(r.kind == "tool_drop" for r in scenario.censor) and scenario.tool is None:
        raise ScenarioError(f"{source}: tool_drop blocks the tool: the scenario needs a [tool]")
    if scenario.plane not in PLANES:
        raise ScenarioError(f"{source}: plane must be one of {', '.join(PLANES)}")
    if not 0 <= scenario.residual_wait <= 600:
        raise ScenarioError(f"{source}: residual_wait must be between 0 and 600 seconds")
    for key, value in msgspec.structs.asdict(scenario.timeouts).items():
        # World.run_probe waits 180 s for the probe: a longer run would be cut short.
        most = MAX_RUN_SECONDS if key == "run" else 60
        if not 0.5 <= value <= most:
            raise ScenarioError(f"{source}: timeouts.{key} must be between 0.5 and {most} seconds")
    return scenario


def load(spec: str) -> Scenario:
    """A built-in scenario by name, or a scenario file by path."""
    path = Path(spec)
    if spec in builtin_names() and not path.exists():
        ref = importlib.resources.files("voipwatch.sim") / "scenarios" / f"{spec}.toml"
        return parse(ref.read_bytes(), f"built-in scenario {spec}")
    if not path.is_file():
        known = ", ".join(builtin_names())
        raise ScenarioError(f"{spec}: no such scenario file or built-in scenario ({known})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{spec}: {exc.strerror}") from None
    return parse(data, spec)


def via_mismatches(scenario: Scenario, verdicts: list[dict[str, Any]]) -> list[str]:
    """Every way the via outcomes of ``verdicts`` (the probe's ``--json`` lines) differ
    from the scenario's ``[tool]`` and ``[[via]]`` (none: all met).

    A role judged by several tests (Messenger's STUN host by the signalling test and
    the call test) is judged where its direct path fared worst, as for the direct
    verdicts; roles not listed must be ``not_blocked``.
    """
    if scenario.tool is None:
        return []
    expected = {v.role: v.outcomes for v in scenario.via}
    wrong: list[str] = []
    worst: dict[str, dict[str, Any]] = {}
    for v in verdicts:
        outcomes = v.get("via")
        if not isinstance(outcomes, list):
            wrong.append(f"{v.get('test_name')} {v.get('input')}: no via outcomes")
            continue
        for o in outcomes:
            if o.get("tool_status") != scenario.tool.status:
                wrong.append(
                    f"{o.get('role')}: tool {o.get('tool')} found {o.get('tool_status')}, "
                    f"want {scenario.tool.status}"
                )
            role = str(o.get("role"))
            prev = worst.get(role)
            if prev is None or _rank(o) < _rank(prev):
                worst[role] = o
    for role, o in sorted(worst.items()):
        want = expected.get(role, ["not_blocked"])
        if o.get("outcome") not in want:
            got = f"{o.get('outcome')} (via {o.get('via_status')} {o.get('via_technique')})"
            wrong.append(f"{role}: through {o.get('tool')}: got {got}, want {' or '.join(want)}")
    wrong += [f"{r}: no via outcome" for r in sorted(set(expected) - set(worst))]
    return wrong


_WORST = ("blocked", "partial", "degraded", "down", "failure", "unknown", "ok")


def _rank(o: dict[str, Any]) -> int:
    s = o.get("direct_status")
    return _WORST.index(s) if s in _WORST else len(_WORST)
