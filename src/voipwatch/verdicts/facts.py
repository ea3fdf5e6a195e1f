"""Facts of one measurement, indexed once by host and address, and an endpoint's outcome.

OONI's template keys (df-002 ``queries``, df-005 ``tcp_connect``, df-006
``tls_handshakes``, df-001 ``requests``) record each layer separately. :func:`collect`
walks each list once and indexes it by host, address and ``(ip, port)``, so the rules
ask a dictionary per endpoint instead of walking the lists again. These types are
shared by the rules of OONI's tests (:mod:`voipwatch.verdicts.evidence`) and of
voipwatch's controlled probe (:mod:`voipwatch.verdicts.controlled`). Pure; no I/O.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from voipwatch.catalog import Catalog
from voipwatch.ooni import fingerprints
from voipwatch.ooni.failures import normalise
from voipwatch.ooni.fingerprints import Fingerprint, FingerprintTable
from voipwatch.ooni.model import Control, Failure, Measurement, TestKeys, failure_str
from voipwatch.verdicts.proof import HttpResponse
from voipwatch.verdicts.types import Evidence, Observation, Ruling

__all__ = [
    "INCONSISTENT",
    "DnsFact",
    "Facts",
    "Outcome",
    "UdpResponse",
    "collect",
    "ip_port",
    "is_bogon",
    "is_ip",
    "judged_on_facts",
    "requests_by_url",
    "routable_of",
]

_TIMEOUT = "generic_timeout_error"
#: The failure of a DNS answer outside the app's networks.
INCONSISTENT = "dns_inconsistent_answer"


@functools.lru_cache(maxsize=1 << 16)
def is_bogon(ip: str, routable: tuple[str, ...] = ()) -> bool:
    """A non-routable answer for a public name is a fingerprint of DNS tampering.

    ``routable`` lists ranges that are real destinations on the measured network
    (the simulator's 198.18.0.0/15). Cached: the same few thousand server addresses
    recur in every measurement, and ``ipaddress``'s properties are slow.
    """
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for net in routable:
        try:
            if a in ipaddress.ip_network(net, strict=False):
                return False
        except ValueError:
            continue
    return bool(
        a.is_private
        or a.is_loopback
        or a.is_link_local
        or a.is_reserved
        or a.is_unspecified
        or a.is_multicast
    )


@functools.lru_cache(maxsize=1 << 14)
def is_ip(s: str) -> bool:
    """Whether ``s`` is an address literal.

    Cached: asked of the same few host names in every measurement.
    """
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def ip_port(address: str) -> tuple[str, int] | None:
    """``"ip:port"`` or ``"[v6]:port"`` split, ``None`` when the port is no number."""
    if address.startswith("["):
        host, _, port = address[1:].partition("]:")
    else:
        host, _, port = address.rpartition(":")
    try:
        return host, int(port)
    except ValueError:
        return None


class DnsFact:
    """What the resolver said of one name: a failure, or answers and CNAME targets."""

    __slots__ = ("answers", "cnames", "failure", "suspect")

    def __init__(self) -> None:
        self.failure: str | None = None
        self.answers: list[tuple[str, int | None]] = []
        self.cnames: list[str] = []  # names answered (block-page hosts)
        #: An answer may match a fingerprint (one is listed, or the table has patterns):
        #: found while indexing, so a name with none is never matched again.
        self.suspect = False


@dataclass(slots=True)
class UdpResponse:
    """One response to a plain-UDP DNS query (on-path injection gives two per query)."""

    transaction: int
    answers: frozenset[str]
    failure: str | None
    ip_ttl: int | None


class Facts:
    """Everything one measurement observed, joined per host.

    OONI's measurements carry no controls. voipwatch's probe tags its template
    entries, and those tags put each entry where it belongs: the app's own traffic
    (``dns``, ``tcp``, ``tls_*``), the same-IP control handshakes with a harmless
    server name (``tls_control``), the trusted resolvers (``dns_control``), plain
    UDP to a public resolver (``dns_udp``) and the control helper's view from
    outside the network (``control``).
    """

    __slots__ = (
        "_host_ips",
        "cc",
        "control",
        "dns",
        "dns_control",
        "dns_matches",
        "dns_udp",
        "fingerprints",
        "ip_hosts",
        "lossy",
        "odd_failures",
        "probe",
        "responses",
        "routable",
        "tcp",
        "tcp_by_ip",
        "tcp_control",
        "tls_by_name",
        "tls_control",
        "tls_target",
    )

    def __init__(
        self,
        routable: tuple[str, ...] = (),
        cc: str = "",
        fingerprints: FingerprintTable | None = None,
    ) -> None:
        self.routable = routable
        self.cc = cc
        self.fingerprints = fingerprints
        self.dns: dict[str, DnsFact] = {}
        self.ip_hosts: dict[str, str] = {}
        # ``ip_hosts`` the other way round, built when first asked (see ips_first_for)
        self._host_ips: dict[str, list[str]] | None = None
        # (ip, port) -> failure strings (None for success), in order
        self.tcp: dict[tuple[str, int], list[str | None]] = {}
        # ip -> (port, failure) of each connect, grouped by port in the order first
        # tried: what every endpoint answered with that address reads
        self.tcp_by_ip: dict[str, list[tuple[int, str | None]]] = {}
        # server_name -> failures
        self.tls_by_name: dict[str, list[str | None]] = {}
        # url -> responses received, for the block-page fingerprints
        self.responses: dict[str, list[HttpResponse]] = {}
        # host -> the fingerprints its answers match: rules ask it once per endpoint and role
        self.dns_matches: dict[str, list[tuple[str, Fingerprint]]] = {}
        # voipwatch probe only
        self.probe = False
        self.dns_control: dict[str, DnsFact] = {}
        self.dns_udp: dict[str, list[UdpResponse]] = {}
        self.tls_control: dict[str, list[str | None]] = {}
        # (ip, port) -> failures of the connects under the control handshakes
        self.tcp_control: dict[tuple[str, int], list[str | None]] = {}
        # (address "ip:port", server_name) -> failures of the app's own handshakes
        self.tls_target: dict[tuple[str, str], list[str | None]] = {}
        self.control: Control | None = None
        # Some operation failed and then succeeded on a retry: the path loses packets,
        # so a timeout alone proves nothing here (loss never resets or forges anything).
        self.lossy = False
        #: A connect or handshake failed with the DNS layer's failure string
        #: (:data:`INCONSISTENT`): odd data, which rules then search layer by layer.
        self.odd_failures = False

    def ips_first_for(self, host: str) -> list[str]:
        """The addresses first answered for ``host`` (empty when none was).

        Asked only of a name without answers of its own, which is rare: the index is
        built on the first question, not for every measurement.
        """
        by_host = self._host_ips
        if by_host is None:
            by_host = self._host_ips = {}
            for ip, h in self.ip_hosts.items():
                ips_of = by_host.get(h)
                if ips_of is None:
                    by_host[h] = [ip]
                else:
                    ips_of.append(ip)
        return by_host.get(host, [])


@dataclass(slots=True)
class Outcome:
    """Whether an endpoint worked, and if not, the atom that says why."""

    ok: bool | None  # None: not measured / unknown
    evidence: Evidence | None = None
    technique: str | None = None
    observations: list[Observation] = field(default_factory=list)
    # With controls (voipwatch's probe): isolated by a control; the target itself
    # is down (the control helper cannot reach it either); works but unreliably.
    confirmed: bool = False
    down: bool = False
    degraded: bool = False


def routable_of(m: Measurement) -> tuple[str, ...]:
    """Ranges the measurement says are routable on its network (simulation only)."""
    a = m.annotations
    text = a.voipwatch_routable if a is not None else None
    return tuple(x.strip() for x in text.split(",") if x.strip()) if text else ()


def judged_on_facts(
    rule: Callable[[Measurement, TestKeys, Facts, Catalog], Ruling],
) -> Callable[[Measurement, Catalog], Ruling]:
    """``rule`` as the engine calls it, with the measurement's facts: a measurement
    without test keys fails before the rule is asked, and the facts are collected with
    what the measurement says of its network (routable ranges, the probe's country)."""

    @functools.wraps(rule)
    def judge(m: Measurement, cat: Catalog) -> Ruling:
        tk = m.test_keys
        if tk is None:
            return "failure", [], [], ["no test_keys"]
        return rule(m, tk, collect(tk, routable=routable_of(m), cc=m.probe_cc or ""), cat)

    return judge


def requests_by_url(tk: TestKeys) -> tuple[dict[str, list[str | None]], dict[str, int | None]]:
    """Each requested URL's attempts in order (``None`` for one that got an answer, else
    its failure) and the status code of its last attempt; a request without a URL is
    left out.

    Every attempt counts: a request that failed and was retried is not a block.
    """
    attempts: dict[str, list[str | None]] = {}
    codes: dict[str, int | None] = {}
    for tr in tk.requests or ():
        url = tr.request.url if tr.request is not None else None
        if url:
            attempts.setdefault(url, []).append(failure_str(tr.failure))
            codes[url] = tr.response.code if tr.response is not None else None
    return attempts, codes


def _failure(value: Failure | msgspec.UnsetType) -> str | None:
    """A failure value as its df-007 name; ``None`` for none (see ``failure_str``)."""
    text = failure_str(value)
    return normalise(text) if text else None


def collect(
    tk: TestKeys,
    *,
    routable: tuple[str, ...] = (),
    cc: str = "",
    fp_table: FingerprintTable | None = None,
    all_pages: bool = False,
) -> Facts:
    """Index the template keys of ``tk``, each list walked once.

    ``cc`` is the probe's country and ``fp_table`` the censors' fingerprints (default:
    the shipped table) that DNS answers and HTTP responses are matched against:
    plain-HTTP responses only, unless ``all_pages`` (to find known false positives).
    """
    f = Facts(
        routable, (cc or "").upper(), fp_table if fp_table is not None else fingerprints.load()
    )
    f.control = tk.x_control
    if tk.queries:
        _index_queries(f, tk)
    if tk.tcp_connect:
        _index_connects(f, tk)
    if tk.tls_handshakes:
        _index_handshakes(f, tk)
    if tk.requests:
        _index_responses(f, tk, all_pages)
    if f.probe:  # only the probe's own measurements have attempts and controls
        f.lossy = _lossy(f, tk)
    return f


def _index_queries(f: Facts, tk: TestKeys) -> None:
    dns, ip_hosts = f.dns, f.ip_hosts
    table = f.fingerprints
    listed = table.dns if table is not None else {}
    patterns = table is not None and bool(table.dns_other)
    for q in tk.queries or ():
        host = (q.hostname or "").lower().rstrip(".")
        if not host:
            continue
        tags = q.tags
        facts_of = dns
        if tags:
            f.probe = True
            if "udp" in tags:
                ips = frozenset(a.ipv4 or a.ipv6 or "" for a in q.answers or ()) - {""}
                f.dns_udp.setdefault(host, []).append(
                    UdpResponse(q.transaction_id or 0, ips, _failure(q.failure), q.x_ip_ttl)
                )
                continue
            if "control" in tags:
                facts_of = f.dns_control
        d = facts_of.get(host)
        if d is None:
            d = facts_of[host] = DnsFact()
            d.suspect = patterns
        if q.failure is not None and failure_str(q.failure):
            # getaddrinfo-era probes split one lookup into A and AAAA; a failed AAAA
            # beside a good A is not a failure of the name.
            if d.failure is None and not d.answers:
                d.failure = _failure(q.failure)
            continue
        answers = d.answers
        qa = q.answers
        if not qa:
            continue
        add, first = answers.append, ip_hosts.setdefault
        for a in qa:
            ip = a.ipv4 or a.ipv6
            if ip:
                add((ip, a.asn))
                first(ip, host)
                if ip.lower() in listed:
                    d.suspect = True
            elif a.hostname and a.answer_type == "CNAME":
                name = a.hostname.lower().rstrip(".")
                d.cnames.append(name)
                if name in listed:
                    d.suspect = True
        if answers:
            d.failure = None


def _index_connects(f: Facts, tk: TestKeys) -> None:
    tcp = f.tcp
    ports_of: dict[str, list[int]] = {}
    for c in tk.tcp_connect or ():
        ip, port = c.ip, c.port
        if not ip or port is None:
            continue
        st = c.status
        fail = None if st is None or st.failure is None else _failure(st.failure)
        if fail == INCONSISTENT:
            f.odd_failures = True
        if c.tags:
            f.probe = True
            if "control_sni" in c.tags:
                if fail is None and st is not None and st.success is False:
                    fail = _TIMEOUT
                f.tcp_control.setdefault((ip, port), []).append(fail)
                continue
        if fail is None and st is not None and st.success is False:
            fail = _TIMEOUT if st.blocked is None else "connect_error"
        key = (ip, port)
        attempts = tcp.get(key)
        if attempts is None:
            tcp[key] = [fail]
            ports = ports_of.get(ip)
            if ports is None:
                ports_of[ip] = [port]
            else:
                ports.append(port)
        else:
            attempts.append(fail)
    f.tcp_by_ip = {
        ip: [(port, fail) for port in ports for fail in tcp[(ip, port)]]
        for ip, ports in ports_of.items()
    }


def _index_handshakes(f: Facts, tk: TestKeys) -> None:
    by_name = f.tls_by_name
    for h in tk.tls_handshakes or ():
        norm = None if h.failure is None else _failure(h.failure)
        if norm == INCONSISTENT:
            f.odd_failures = True
        if h.tags:
            f.probe = True
            if "control_sni" in h.tags:
                f.tls_control.setdefault(h.address or "", []).append(norm)
                continue
            if h.address and h.server_name:
                f.tls_target.setdefault((h.address, h.server_name.lower()), []).append(norm)
        if h.server_name:
            by_name.setdefault(h.server_name.lower(), []).append(norm)


def _index_responses(f: Facts, tk: TestKeys, all_pages: bool) -> None:
    for tr in tk.requests or ():
        resp = tr.response
        if resp is None or tr.request is None:
            continue
        url = tr.request.url
        if not url or not (resp.body or resp.headers):
            continue
        if not (all_pages or url.startswith("http://")):
            continue  # only a plain-HTTP page can be a censor's (see http_fingerprint)
        f.responses.setdefault(url, []).append(HttpResponse(resp.body, resp.headers))


def _lossy(f: Facts, tk: TestKeys) -> bool:
    """Whether some operation failed and then succeeded on a retry."""
    # Each test returns as soon as one list of attempts holds both a success (None)
    # and a failure: most runs of OONI's tests that carry tags are asked here too.
    for rs in (*f.tcp.values(), *f.tls_target.values(), *f.tls_control.values()):
        if 0 < rs.count(None) < len(rs):
            return True
    by_url: dict[str, list[bool]] = {}
    for tr in tk.requests or ():
        if tr.tags and tr.request is not None and tr.request.url:
            by_url.setdefault(tr.request.url, []).append(failure_str(tr.failure) is None)
    for oks in by_url.values():
        if True in oks and False in oks:
            return True
    # A deterministic censor treats identical packets alike. Loss does not: the same
    # SYN to the same address and port succeeding for one connection and timing out
    # for another, or the harmless control name timing out where the app's own
    # connection got through, is loss.
    tcp, tcp_control = f.tcp, f.tcp_control
    for key in tcp.keys() | tcp_control.keys():
        both = tcp.get(key, []) + tcp_control.get(key, [])
        if None in both and _TIMEOUT in both:
            return True
    for addr, rs in f.tls_control.items():
        where = ip_port(addr)
        if where is not None and None in tcp.get(where, []) and _TIMEOUT in rs:
            return True
    return False
