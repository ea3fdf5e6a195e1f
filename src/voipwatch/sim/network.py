"""A simulated censored network: client ⇄ censor ⇄ internet, with real servers.

::

    with World(scenario) as world:
        result = world.run_probe()

Three namespaces joined by veth pairs, none linked to the host's network: packets
cannot leave. The internet runs unbound (DNS, DoT, DoH), nginx (TLS/HTTP for every
named host, ``/download`` for throughput), coturn (STUN/TURN on the call-plane hosts'
UDP ports), kamailio (SIP OPTIONS at sip.voipwatch.test over UDP and TCP 5060 and TLS
5061), a UDP echo, the control
helper and the call-plane test helper (when the project has them).

``build()`` checks the machine first, then builds; leaving the ``with`` block
(normally, by an exception, Ctrl-C or SIGTERM) always tears everything down: servers
killed and reaped, namespaces deleted, /etc/netns folders and the run's temporary
directory removed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from voipwatch.catalog import Catalog
from voipwatch.catalog import load as load_catalog
from voipwatch.locate import Mapping, write_test_db
from voipwatch.probe.config import RESIDUAL_PORTS
from voipwatch.process import pid_alive
from voipwatch.sim import capabilities, netns, pki, probe_config, tools
from voipwatch.sim.censor import CLIENT_SIDE_IF, TRANSIT_IF, CensorPlan, compile_scenario
from voipwatch.sim.dns import forwarding_conf, public_conf
from voipwatch.sim.errors import SimulationError
from voipwatch.sim.plan import (
    ACCEPT_ALL,
    ACCEPT_ALL_PORT,
    CENSOR_CLIENT_SIDE,
    CENSOR_INET_SIDE,
    CLIENT,
    CONTROL,
    CONTROL_NAME,
    ECHO,
    HELPER,
    HELPER_PORT,
    HIGH_UDP_PORT,
    HIJACK_RESOLVER,
    INET,
    MEDIA_HELPER,
    MITM,
    RESOLVER,
    RESOLVER_NAME,
    SIM_NET,
    SINKHOLE_NET,
    SIP,
    SIP_NAME,
    TOOL,
    AddressPlan,
    build_plan,
)
from voipwatch.sim.scenario import Scenario, place_of
from voipwatch.sim.servers import (
    Listen,
    Server,
    coturn_server,
    kamailio_has_tls,
    kamailio_server,
    nginx_conf,
    nginx_server,
    python_server,
    unbound_server,
    wait_ready,
)

_counter = itertools.count()
HELPER_MODULE = "voipwatch.helper.control"
MEDIA_HELPER_MODULE = "voipwatch.helper.serve"
DOWNLOAD_BYTES = 1_000_000
# The simulator's UDP echo listens on these ports of ECHO (STUN's, Google's, a relay
# port, Zoom's, SIP's and a high port): UDP checks that do not depend on coturn.
ECHO_PORTS = (443, 3478, 5060, 8801, 19302, HIGH_UDP_PORT)
RTP_PORT = 5004
SIP_TLS_PORT = 5061
_TEMP_RE = re.compile(rf"^{netns.TEMP_PREFIX}vw(?P<pid>\d+)x\d+-")


class World:
    """One simulated world for one scenario (a context manager)."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        catalog: Catalog | None = None,
        helper: bool = True,
    ) -> None:
        self.scenario = scenario
        self.prefix = f"vw{os.getpid()}x{next(_counter)}"
        self.client = f"{self.prefix}-client"
        self.censor = f"{self.prefix}-censor"
        self.inet = f"{self.prefix}-inet"
        self.namespaces = (self.client, self.censor, self.inet)
        self.plan: AddressPlan = build_plan(catalog or load_catalog())
        # Compiling first makes a bad scenario fail before anything is built.
        self.censor_plan: CensorPlan = compile_scenario(scenario, self.plan)
        self.want_helper = helper
        self.helper_running = False
        self.media_helper_running = False
        self.sip_tls = False  # kamailio answers SIP over TLS too
        self.workdir: Path | None = None
        self.servers: list[Server] = []
        self.warnings: list[str] = []
        self.timings: dict[str, float] = {}
        self._old_handlers: dict[signal.Signals, Any] = {}

    # -- paths -----------------------------------------------------------------------

    def _dir(self) -> Path:
        if self.workdir is None:
            raise SimulationError("the world is not built")
        return self.workdir

    @property
    def ca_file(self) -> Path:
        return self._dir() / "sim-ca.pem"

    @property
    def probe_config(self) -> Path:
        return self._dir() / "probe.toml"

    @property
    def location_db(self) -> Path:
        return self._dir() / "location.mmdb"

    @property
    def measurements(self) -> Path:
        return self._dir() / "measurements.jsonl"

    @property
    def download_file(self) -> Path:
        return self._dir() / "download.bin"

    # -- context manager -------------------------------------------------------------

    def __enter__(self) -> World:
        self._install_signals()
        try:
            self.build()
        except BaseException:
            self._restore_signals()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.teardown()
        finally:
            self._restore_signals()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def interrupt(signum: int, frame: FrameType | None) -> None:
            # SIGTERM takes the same path as Ctrl-C: unwind, tear down, exit.
            raise KeyboardInterrupt

        self._old_handlers[signal.SIGTERM] = signal.signal(signal.SIGTERM, interrupt)

    def _restore_signals(self) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._old_handlers.clear()

    # -- build -----------------------------------------------------------------------

    def build(self) -> None:
        """Check the machine, then build namespaces, servers and censor rules."""
        start = time.monotonic()
        capabilities.check_all(self.censor_plan.features, f"{self.prefix}-check")
        cleanup_stale()
        try:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"{netns.TEMP_PREFIX}{self.prefix}-"))
            self.workdir.chmod(0o755)  # nginx and unbound read their files as root anyway
            self._build_pki()
            self._build_network()
            self._start_servers()
            self._apply_rules()
            place = place_of(self.scenario)
            write_test_db(
                self.location_db,
                [Mapping(f"{CLIENT}/32", place.cc, place.asn, place.network_name)],
            )
            self.probe_config.write_text(
                probe_config.render(
                    self.ca_file,
                    self.plan.overlay,
                    helper=self.helper_running,
                    media_helper=MEDIA_HELPER if self.media_helper_running else "",
                    stun_servers=self.plan.stun_servers(),
                    residual_wait=self.scenario.residual_wait,
                    sip_servers=[SIP] if self.sip_tls else [],
                    location_db=self.location_db,
                    timeouts=self.scenario.timeouts,
                )
            )
        except BaseException:
            self.teardown()
            raise
        self.timings["build"] = time.monotonic() - start

    def _build_pki(self) -> None:
        d = self._dir()
        self.ca = pki.new_authority("voipwatch simulation CA")
        self.ca.write_cert(self.ca_file)
        names = [*self.plan.by_name, CONTROL_NAME, SIP_NAME]
        ips = [h.address for h in self.plan.hosts] + [CONTROL, SIP, MEDIA_HELPER]
        pki.issue(self.ca, names, ips, d / "servers.pem", d / "servers.key")
        pki.issue(self.ca, [RESOLVER_NAME], [RESOLVER], d / "resolver.pem", d / "resolver.key")
        if self.censor_plan.mitm:
            rogue = pki.new_authority("voipwatch censor MITM CA")
            rogue.write_cert(d / "mitm-ca.pem")
            mitm_names = [h.name for h in self.censor_plan.mitm if h.name] or [CONTROL_NAME]
            mitm_ips = [h.address for h in self.censor_plan.mitm]
            pki.issue(rogue, mitm_names, mitm_ips, d / "mitm.pem", d / "mitm.key")

    def _build_network(self) -> None:
        for ns in self.namespaces:
            netns.add(ns)
        c, r, i = self.client, self.censor, self.inet
        # Links are created from inside the censor namespace: no device ever exists in
        # the host's namespace, not even for a moment.
        netns.run(
            [
                "ip",
                "-n",
                r,
                "link",
                "add",
                CLIENT_SIDE_IF,
                "type",
                "veth",
                "peer",
                "name",
                "c0",
                "netns",
                c,
            ]
        )
        netns.run(["ip", "-n", r, "link", "add", TRANSIT_IF, "type", "veth",
                   "peer", "name", "s0", "netns", i])  # fmt: skip
        batches = {
            c: [
                f"addr add {CLIENT}/24 dev c0",
                "link set lo up",
                "link set c0 up",
                f"route add default via {CENSOR_CLIENT_SIDE}",
            ],
            r: [
                f"addr add {CENSOR_CLIENT_SIDE}/24 dev {CLIENT_SIDE_IF}",
                f"addr add {CENSOR_INET_SIDE}/24 dev {TRANSIT_IF}",
                f"addr add {HIJACK_RESOLVER}/32 dev lo",
                f"addr add {MITM}/32 dev lo",
                f"addr add {ACCEPT_ALL}/32 dev lo",
                "link set lo up",
                f"link set {CLIENT_SIDE_IF} up",
                f"link set {TRANSIT_IF} up",
                f"route add {SIM_NET} via {INET}",
                # Forged DNS answers point here: it accepts nothing, silently.
                f"route add blackhole {SINKHOLE_NET}",
            ],
            i: [
                f"addr add {INET}/24 dev s0",
                "link set lo up",
                "link set s0 up",
                f"route add {SIM_NET} via {CENSOR_INET_SIDE}",
                *(
                    f"addr add {a}/32 dev lo"
                    for a in [
                        CONTROL,
                        RESOLVER,
                        HELPER,
                        SIP,
                        MEDIA_HELPER,
                        ECHO,
                        TOOL,
                        *(h.address for h in self.plan.hosts),
                    ]
                ),
            ],
        }
        for ns, lines in batches.items():
            netns.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n")
        netns.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], ns=r)
        # The kernel rate-limits the ICMP errors a reject rule sends (per
        # destination), which would turn most rejects into silent drops when the
        # probe sends many packets at once; a censor rejecting does so every time.
        netns.run(["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"], ns=r)
        netns.write_resolv_conf(c, CENSOR_CLIENT_SIDE)  # the ISP resolver
        netns.write_resolv_conf(r, RESOLVER)
        netns.write_resolv_conf(i, RESOLVER)

    def _start_servers(self) -> None:
        d, cp = self._dir(), self.censor_plan
        up = [h for h in self.plan.hosts if h.address not in cp.down]
        named = [h.address for h in up if h.name]
        dcs = [h.address for h in up if h.plain_http]
        tls = [*named, CONTROL]
        listens: list[Listen] = [("tcp", a, 443) for a in tls]
        listens += [("tcp", a, 80) for a in [*named, *dcs]]
        self.download_file.write_bytes(os.urandom(DOWNLOAD_BYTES))
        conf = nginx_conf(
            "apps", d, tls=tls, http=[*named, *dcs], plain_on_443=[],
            cert=d / "servers.pem", key=d / "servers.key", download=self.download_file,
        )  # fmt: skip
        servers = [
            unbound_server(
                "public",
                self.inet,
                d,
                public_conf(d, self.plan.dns_records(), d / "resolver.pem", d / "resolver.key"),
                [
                    ("udp", RESOLVER, 53),
                    ("tcp", RESOLVER, 53),
                    ("tcp", RESOLVER, 853),
                    ("tcp", RESOLVER, 443),
                ],
            ),
            nginx_server("apps", self.inet, d, conf, listens),
            unbound_server(
                "isp",
                self.censor,
                d,
                forwarding_conf("isp", d, CENSOR_CLIENT_SIDE, nxdomain=cp.nxdomain, lies=cp.bogon),
                [("udp", CENSOR_CLIENT_SIDE, 53), ("tcp", CENSOR_CLIENT_SIDE, 53)],
            ),
        ]
        servers += self._call_servers()
        if dcs:
            # Port 443 of a data centre speaks MTProto and answers OONI's plain HTTP.
            servers.append(
                python_server(
                    "telegram-dc", self.inet, d,
                    ["-m", "voipwatch.sim.telegram_dc", *(f"{a}:443" for a in dcs)],
                    [("tcp", a, 443) for a in dcs],
                )
            )  # fmt: skip
        if cp.accept_all:
            servers.append(
                python_server(
                    "accept-all", self.censor, d,
                    ["-m", "voipwatch.sim.hold", f"{ACCEPT_ALL}:{ACCEPT_ALL_PORT}"],
                    [("tcp", ACCEPT_ALL, ACCEPT_ALL_PORT)],
                )
            )  # fmt: skip
        holds = [f"{h.address}:{p}" for h in up for p in h.hold_ports]
        if holds:
            servers.append(
                python_server(
                    "hold", self.inet, d, ["-m", "voipwatch.sim.hold", *holds],
                    [("tcp", h.address, p) for h in up for p in h.hold_ports],
                )
            )  # fmt: skip
        if cp.hijack:
            servers.append(
                unbound_server(
                    "lying",
                    self.censor,
                    d,
                    forwarding_conf("lying", d, HIJACK_RESOLVER, lies=cp.hijack),
                    [("udp", HIJACK_RESOLVER, 53)],
                )
            )
        if cp.mitm:
            mitm = nginx_conf(
                "mitm", d, tls=[MITM], http=[], plain_on_443=[],
                cert=d / "mitm.pem", key=d / "mitm.key",
            )  # fmt: skip
            servers.append(nginx_server("mitm", self.censor, d, mitm, [("tcp", MITM, 443)]))
        if cp.injection:
            answers = [f"{n}={a}" for n, a in sorted(cp.injection.items())]
            injector = python_server(
                "injector",
                self.censor,
                d,
                ["-m", "voipwatch.sim.injector", "--iface", CLIENT_SIDE_IF, *answers],
                [],
            )
            injector.ready_text = "injector ready"
            servers.append(injector)
        if self.scenario.tool is not None:
            servers += tools.tool_servers(self.scenario.tool.kind, self.inet, self.client, d)
        for s in servers:
            self.servers.append(s)
            s.start()
        wait_ready(servers)
        self._start_helper()
        self._start_media_helper()

    def _call_servers(self) -> list[Server]:
        """coturn per call-plane UDP port, kamailio, and the simulator's UDP echo."""
        d, down = self._dir(), self.censor_plan.down
        servers = []
        for i, (port, addresses) in enumerate(self.plan.udp_listens().items()):
            up = [a for a in addresses if a not in down]
            if up:
                first = 49152 + 200 * i
                servers.append(coturn_server(self.inet, d, port, up, (first, first + 99)))
        self.sip_tls = kamailio_has_tls()
        if not self.sip_tls:
            self.warnings.append(
                "kamailio answers SIP without TLS: its TLS module is not installed "
                "(kamailio-tls-modules; run scripts/install-system-deps)"
            )
        servers.append(
            kamailio_server(
                self.inet, d, SIP, tls_port=SIP_TLS_PORT if self.sip_tls else 0,
                cert=d / "servers.pem", key=d / "servers.key",
            )
        )  # fmt: skip
        echo = ["-m", "voipwatch.sim.echo", *(f"{ECHO}:{p}" for p in ECHO_PORTS)]
        listens: list[Listen] = [("udp", ECHO, p) for p in ECHO_PORTS]
        servers.append(python_server("echo", self.inet, d, echo, listens))
        return servers

    def media_helper_ports(self) -> list[int]:
        """The call-plane helper's UDP ports: the catalogue's (a few per role), RTP's, a
        high port, the residual check's two; less those a scenario leaves closed."""
        ports = {*self.plan.media_ports(), RTP_PORT, *RESIDUAL_PORTS}
        return sorted(ports - self.censor_plan.helper_closed)

    def _start_media_helper(self) -> None:
        """The project's call-plane test helper on MEDIA_HELPER, when it exists."""
        if not self.want_helper:
            return
        d = self._dir()
        ports = self.media_helper_ports()
        listens: list[Listen] = [("udp", MEDIA_HELPER, p) for p in ports]
        listens += [("tcp", MEDIA_HELPER, 443), ("tcp", MEDIA_HELPER, 5060),
                    ("tcp", MEDIA_HELPER, 5061)]  # fmt: skip
        helper = python_server(
            "media-helper",
            self.inet,
            d,
            ["-m", MEDIA_HELPER_MODULE, "--address", MEDIA_HELPER,
             "--udp-ports", ",".join(map(str, ports)),
             "--cert", str(d / "servers.pem"), "--key", str(d / "servers.key")],
            listens,
        )  # fmt: skip
        self.media_helper_running = self._start_optional(helper, "the call-plane helper")

    def _start_helper(self) -> None:
        if not self.want_helper:
            return
        helper = python_server(
            "control-helper",
            self.inet,
            self._dir(),
            ["-m", HELPER_MODULE, "--listen", f"{HELPER}:{HELPER_PORT}",
             "--ca-file", str(self.ca_file), "--allow-range", str(SIM_NET)],
            [("tcp", HELPER, HELPER_PORT)],
        )  # fmt: skip
        self.helper_running = self._start_optional(helper, "the control helper")

    def _start_optional(self, server: Server, what: str) -> bool:
        """Start a server the world can run without; a failure is a warning, not an error."""
        self.servers.append(server)
        server.start()
        try:
            wait_ready([server], timeout=10.0)
        except SimulationError as exc:
            server.stop()
            self.warnings.append(f"running without {what}: {exc}")
            return False
        return True

    def _apply_rules(self) -> None:
        cp = self.censor_plan
        script = cp.nft_script()
        if script:
            path = self._dir() / "censor.nft"
            path.write_text(script)
            netns.run(["nft", "-f", str(path)], ns=self.censor)
        for rule in cp.iptables:
            netns.run(["iptables", *rule], ns=self.censor)
        for cmd in cp.tc_commands():
            netns.run(["tc", *cmd], ns=self.censor)
        if cp.throttles:
            # Without GSO every packet is one MTU: a 64 KB super-packet would pass HTB in
            # one go and then stall the flow for seconds (128 kbit/s), too bursty to measure.
            for ns, dev in ((self.inet, "s0"), (self.client, "c0"),
                            (self.censor, CLIENT_SIDE_IF), (self.censor, TRANSIT_IF)):  # fmt: skip
                netns.run(["ip", "-n", ns, "link", "set", "dev", dev, "gso_max_segs", "1"])

    # -- running things in the client ------------------------------------------------

    def popen_in_client(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a command in the client namespace (the censored user's machine)."""
        self._dir()
        return subprocess.Popen(["ip", "netns", "exec", self.client, *argv], **kwargs)

    def run_in_client(
        self, argv: Sequence[str], *, timeout: float = 60.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the client namespace; output captured as text."""
        self._dir()
        try:
            return subprocess.run(
                ["ip", "netns", "exec", self.client, *argv],
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SimulationError(f"{argv[0]} did not finish in {timeout:g} s") from None

    def probe_argv(self, extra_args: Sequence[str] = ()) -> list[str]:
        """The probe's command line; the scenario's plane unless ``extra_args`` gives one."""
        plane = [] if "--plane" in extra_args else ["--plane", self.scenario.plane]
        if self.scenario.residual_wait and self.scenario.plane != "signalling":
            plane.append("--residual")
        if self.scenario.tool is not None and "--via" not in extra_args:
            plane += ["--via", tools.via_url(self.scenario.tool.kind)]
        return [
            sys.executable, "-m", "voipwatch.cli", "probe", "--yes", "--json",
            "--config", str(self.probe_config), "--out", str(self.measurements),
            *plane, *extra_args,
        ]  # fmt: skip

    def run_probe(
        self, extra_args: Sequence[str] = (), *, timeout: float = 180.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``voipwatch probe`` inside the client namespace."""
        return self.run_in_client(self.probe_argv(extra_args), timeout=timeout)

    # -- teardown --------------------------------------------------------------------

    def teardown(self) -> None:
        """Remove everything this world made; safe to call twice, even half-built."""
        start = time.monotonic()
        ignoring = threading.current_thread() is threading.main_thread()
        old: dict[signal.Signals, Any] = {}
        if ignoring:
            # A second Ctrl-C must not leave a half-removed world behind.
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, signal.SIG_IGN)
        try:
            for s in reversed(self.servers):
                with contextlib.suppress(OSError):
                    s.stop()
            self.servers.clear()
            for ns in self.namespaces:
                with contextlib.suppress(SimulationError, OSError):
                    netns.delete(ns)
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
        self.timings["teardown"] = time.monotonic() - start


def cleanup_stale() -> list[str]:
    """Remove what crashed runs left behind (their builder process is gone); say what."""
    removed: list[str] = []

    def dead(pid: str) -> bool:
        return int(pid) != os.getpid() and not pid_alive(int(pid))

    for ns in netns.list_namespaces():
        m = netns.NAME_RE.match(ns)
        if m and dead(m["pid"]):
            netns.delete(ns)
            removed.append(f"namespace {ns}")
    if netns.NETNS_ETC.is_dir():
        for etc in netns.NETNS_ETC.iterdir():
            m = netns.NAME_RE.match(etc.name)
            if m and dead(m["pid"]):
                netns.delete(etc.name)
                removed.append(str(etc))
    tmp = Path(tempfile.gettempdir())
    stale_dirs = [p for p in tmp.glob(f"{netns.TEMP_PREFIX}vw*") if _stale_dir(p, dead)]
    if stale_dirs:
        _kill_processes_using(stale_dirs)
        for p in stale_dirs:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(str(p))
    return removed


def _stale_dir(path: Path, dead: Any) -> bool:
    m = _TEMP_RE.match(path.name)
    return bool(m and path.is_dir() and dead(m["pid"]))


def _kill_processes_using(dirs: list[Path]) -> None:
    """Kill, by pid, servers whose command line names a stale run's directory.

    Their namespace is normally gone already; this catches a crash between deleting
    the namespace and stopping the server.
    """
    needles = [str(d).encode() for d in dirs]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
