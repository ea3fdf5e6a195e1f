"""The ``test_keys`` of synthetic measurements, shaped as the real probes write them.

One builder per test: OONI's four IM tests (``whatsapp``, ``telegram``, ``signal``,
``facebook_messenger``, as probe-cli writes them today) and voipwatch's own
``voipwatch_call``. A builder takes the *faults* the network applies (role →
:class:`Fault`) and returns the test keys a probe on that network would record, so
that the verdict engine judges each faulted role into :data:`MECHANISMS`' status and
technique, and every other role ``ok``.

Speed: a world has ~10⁵ measurements. Entries of unfaulted endpoints are built once
and shared between measurements (the encoder never mutates them); only faulted
entries are built per measurement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

Entry = dict[str, Any]
Keys = dict[str, Any]

TIMEOUT = "generic_timeout_error"
RESET = "connection_reset"
REFUSED = "connection_refused"
NXDOMAIN = "dns_nxdomain_error"
#: The address Iran's resolvers answered for Signal in 2021 (OONI report 2021-10-21).
BOGON = "10.10.34.35"


class Fault(NamedTuple):
    """What a network does to one role: a technique, on every endpoint or some."""

    technique: str
    partial: bool = False


#: (test, role, technique, partial) → (role status, technique) the engine concludes.
#: Every combination a builder supports is listed; the tests judge a sample of each.
MECHANISMS: dict[tuple[str, str, str, bool], tuple[str, str]] = {}


def _mech(test: str, role: str, techniques: list[str], *, partial: bool = False) -> None:
    for t in techniques:
        MECHANISMS[(test, role, t, partial)] = ("partial" if partial else "blocked", t)


_mech("whatsapp", "whatsapp/endpoints", ["ip.blocked", "dns.nxdomain", "dns.bogon",
                                         "dns.inconsistent"])  # fmt: skip
_mech("whatsapp", "whatsapp/endpoints", ["ip.blocked"], partial=True)
_mech("whatsapp", "whatsapp/registration", ["tls.reset", "tls.timeout", "tls.mitm",
                                            "dns.nxdomain", "tcp.timeout"])  # fmt: skip
_mech("whatsapp", "whatsapp/web", ["tls.reset", "tls.timeout", "dns.nxdomain",
                                   "http.blockpage", "tcp.timeout"])  # fmt: skip
_mech("telegram", "telegram/dc", ["ip.blocked"])
_mech("telegram", "telegram/dc", ["ip.blocked"], partial=True)
_mech("telegram", "telegram/web", ["tls.reset", "tls.timeout", "dns.nxdomain", "tcp.timeout"])
for _r in ("signal/chat", "signal/storage", "signal/sfu", "signal/directory"):
    _mech("signal", _r, ["tls.reset", "tls.timeout", "tls.mitm", "dns.bogon", "dns.nxdomain",
                         "tcp.timeout"])  # fmt: skip
for _r in ("messenger/edge", "messenger/api", "messenger/star", "messenger/cdn"):
    _mech("facebook_messenger", _r, ["dns.inconsistent", "dns.nxdomain", "tcp.timeout",
                                     "tcp.refused"])  # fmt: skip
_mech("facebook_messenger", "messenger/stun", ["dns.nxdomain"])
_mech("voipwatch_call", "whatsapp/relay", ["stun.dpi", "udp.port", "udp.icmp"])
_mech("voipwatch_call", "whatsapp/relay", ["dtls.dpi"], partial=True)
_mech("voipwatch_call", "signal/turn", ["ip.blocked"])
_mech("voipwatch_call", "signal/turn", ["stun.dpi"], partial=True)
_mech("voipwatch_call", "stun/public", ["stun.dpi", "udp.port"])
_mech("voipwatch_call", "sip/signalling", ["sip.dpi", "sip.port"])
_mech("voipwatch_call", "sip/signalling", ["sip.dpi", "sip.port"], partial=True)
_mech("voipwatch_call", "webrtc/media", ["media.dpi"])
MECHANISMS[("voipwatch_call", "whatsapp/web", "throttle.policed", False)] = (
    "degraded",
    "throttle.policed",
)

#: Faults that come with another: Telegram's DCs blocked by address are blocked as the
#: range 149.154.160.0/20, which holds web.telegram.org too (and the engine counts
#: every address the test connects to as a DC).
IMPLIED: dict[tuple[str, str, str, bool], dict[str, Fault]] = {
    ("telegram", "telegram/dc", "ip.blocked", False): {"telegram/web": Fault("tcp.timeout")},
}


def effective(test: str, faults: dict[str, Fault]) -> dict[str, Fault]:
    """``faults`` with the faults they imply (see :data:`IMPLIED`)."""
    out = dict(faults)
    for role, f in faults.items():
        for r, g in IMPLIED.get((test, role, f.technique, f.partial), {}).items():
            out.setdefault(r, g)
    return out


#: The roles each test reports (a measurement without faults judges them all ``ok``).
TEST_ROLES: dict[str, tuple[str, ...]] = {
    "whatsapp": ("whatsapp/endpoints", "whatsapp/registration", "whatsapp/web"),
    "telegram": ("telegram/dc", "telegram/web"),
    "signal": ("signal/chat", "signal/directory", "signal/storage", "signal/sfu"),
    "facebook_messenger": (
        "messenger/edge",
        "messenger/api",
        "messenger/star",
        "messenger/cdn",
        "messenger/stun",
    ),
}
#: voipwatch_call's inputs, and the roles each reports.
CALL_INPUTS: dict[str, tuple[str, ...]] = {
    "whatsapp": ("whatsapp/relay",),
    "signal": ("signal/turn",),
    "generic": ("stun/public", "sip/signalling", "webrtc/media", "whatsapp/web"),
}
TEST_VERSIONS = {
    "whatsapp": "0.11.0",
    "telegram": "0.3.1",
    "signal": "0.2.5",
    "facebook_messenger": "0.2.0",
    "voipwatch_call": "0.1.0",
}

# -- template entries -----------------------------------------------------------------


def _query(host: str, ips: list[str], asn: int | None, org: str, t: float) -> Entry:
    return {
        "answers": [
            {"answer_type": "A", "as_org_name": org, "asn": asn, "ipv4": ip, "ttl": None}
            for ip in ips
        ],
        "engine": "getaddrinfo",
        "failure": None,
        "hostname": host,
        "query_type": "ANY",
        "resolver_address": "",
        "t": t,
    }


def _query_fail(host: str, failure: str, t: float) -> Entry:
    return {
        "answers": None,
        "engine": "getaddrinfo",
        "failure": failure,
        "hostname": host,
        "query_type": "ANY",
        "resolver_address": "",
        "t": t,
    }


def _tcp(ip: str, port: int, failure: str | None, t: float) -> Entry:
    return {
        "ip": ip,
        "port": port,
        "status": {"blocked": None, "failure": failure, "success": failure is None},
        "t": t,
    }


def _tls(address: str, sni: str, failure: str | None, t: float) -> Entry:
    return {
        "address": address,
        "cipher_suite": "" if failure else "TLS_AES_128_GCM_SHA256",
        "failure": failure,
        "negotiated_protocol": "" if failure else "h2",
        "network": "tcp",
        "no_tls_verify": False,
        "server_name": sni,
        "t": t,
        "tags": None,
        "tls_version": "" if failure else "TLSv1.3",
    }


_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/104.0.0.0 Safari/537.36"
)


def _request(
    url: str, method: str, failure: str | None, code: int | None, t: float, address: str = ""
) -> Entry:
    host = url.split("/")[2]
    return {
        "address": address,
        "failure": failure,
        "request": {
            "body": "",
            "body_is_truncated": False,
            "headers": {"Accept": "*/*", "Host": host, "User-Agent": _UA},
            "method": method,
            "tor": {"exit_ip": None, "exit_name": None, "is_tor": False},
            "url": url,
            "x_transport": "tcp",
        },
        "response": None
        if code is None
        else {"body": "", "body_is_truncated": False, "code": code, "headers": {}},
        "t": t,
    }


def _faulted_https(
    host: str,
    ip: str,
    url: str,
    technique: str,
    *,
    asn: int | None,
    org: str,
    t: float,
    method: str = "GET",
) -> tuple[list[Entry], list[Entry], list[Entry], list[Entry]]:
    """(queries, tcp_connect, tls_handshakes, requests) of one HTTPS endpoint under a fault."""
    addr = f"{ip}:443"
    if technique == "dns.nxdomain":
        return [_query_fail(host, NXDOMAIN, t)], [], [], [_request(url, method, NXDOMAIN, None, t)]
    if technique == "dns.bogon":
        q = _query(host, [BOGON], None, "", t)
        return (
            [q],
            [_tcp(BOGON, 443, TIMEOUT, t + 0.2)],
            [],
            [_request(url, method, TIMEOUT, None, t + 10.0, f"{BOGON}:443")],
        )
    q = _query(host, [ip], asn, org, t)
    if technique == "tcp.timeout":
        return [q], [_tcp(ip, 443, TIMEOUT, t + 10.0)], [], [_request(url, method, TIMEOUT, None,
                                                                       t + 10.0, addr)]  # fmt: skip
    tls_failure = {
        "tls.reset": RESET,
        "tls.timeout": TIMEOUT,
        "tls.mitm": "ssl_invalid_hostname",
    }.get(technique)
    if tls_failure is not None:
        return (
            [q],
            [_tcp(ip, 443, None, t + 0.05)],
            [_tls(addr, host, tls_failure, t + 0.1)],
            [_request(url, method, tls_failure, None, t + 0.1, addr)],
        )
    if technique == "http.blockpage":
        return (
            [q],
            [_tcp(ip, 443, None, t + 0.05)],
            [_tls(addr, host, None, t + 0.1)],
            [_request(url, method, "http_unexpected_status_code", 403, t + 0.2, addr)],
        )
    raise ValueError(f"no HTTPS fault named {technique}")


class _Https:
    """An HTTPS endpoint's unfaulted entries, built once."""

    def __init__(
        self, host: str, ip: str, url: str, code: int, asn: int | None, org: str, t: float
    ) -> None:
        self.host, self.ip, self.url, self.asn, self.org, self.t = host, ip, url, asn, org, t
        addr = f"{ip}:443"
        self.q = _query(host, [ip], asn, org, t)
        self.tcp = _tcp(ip, 443, None, t + 0.05)
        self.tls = _tls(addr, host, None, t + 0.1)
        self.req = _request(url, "GET", None, code, t + 0.2, addr)

    def parts(
        self, fault: Fault | None
    ) -> tuple[list[Entry], list[Entry], list[Entry], list[Entry]]:
        if fault is None:
            return [self.q], [self.tcp], [self.tls], [self.req]
        return _faulted_https(
            self.host, self.ip, self.url, fault.technique, asn=self.asn, org=self.org, t=self.t
        )


def _httpt(queries: list[Entry], tcp: list[Entry], tls: list[Entry], reqs: list[Entry]) -> Keys:
    """The keys every urlgetter-based IM test starts with (df-001/002/005/006)."""
    return {
        "agent": "redirect",
        "failed_operation": None,
        "failure": None,
        "queries": queries,
        "requests": reqs,
        "tcp_connect": tcp,
        "tls_handshakes": tls,
    }


# -- WhatsApp -------------------------------------------------------------------------

_FB, _FB_ORG = 32934, "Facebook, Inc."
_WA_HOSTS = [f"e{n}.whatsapp.net" for n in range(1, 17)]
_WA_IPS = {h: f"157.240.{192 + n // 8}.{(n * 13) % 250 + 3}" for n, h in enumerate(_WA_HOSTS)}
_WA_Q = {h: _query(h, [_WA_IPS[h]], _FB, _FB_ORG, 0.02 + n * 0.003)
         for n, h in enumerate(_WA_HOSTS)}  # fmt: skip
_WA_TCP = {h: [_tcp(_WA_IPS[h], p, None, 0.09 + n * 0.004) for p in (443, 5222)]
           for n, h in enumerate(_WA_HOSTS)}  # fmt: skip
_WA_REG = _Https("v.whatsapp.net", "157.240.195.54", "https://v.whatsapp.net/v2/register", 200,
                 _FB, _FB_ORG, 0.03)  # fmt: skip
_WA_WEB = _Https("web.whatsapp.com", "157.240.195.60", "https://web.whatsapp.com/", 200, _FB,
                 _FB_ORG, 0.03)  # fmt: skip
#: The ISP's sinkhole that answers for names it blocks (dns.inconsistent).
SINKHOLE = "185.51.200.2"


def _wa_endpoint(host: str, technique: str, sinkhole_asn: int) -> tuple[list[Entry], list[Entry]]:
    ip = _WA_IPS[host]
    if technique == "ip.blocked":
        return [_WA_Q[host]], [_tcp(ip, p, TIMEOUT, 10.0) for p in (443, 5222)]
    if technique == "dns.nxdomain":
        return [_query_fail(host, NXDOMAIN, 0.03)], []
    if technique == "dns.bogon":
        return [_query(host, [BOGON], None, "", 0.03)], [
            _tcp(BOGON, p, TIMEOUT, 10.0) for p in (443, 5222)
        ]
    if technique == "dns.inconsistent":
        return [_query(host, [SINKHOLE], sinkhole_asn, "", 0.03)], [
            _tcp(SINKHOLE, p, None, 0.05) for p in (443, 5222)
        ]
    raise ValueError(f"no WhatsApp endpoint fault named {technique}")


def whatsapp(faults: dict[str, Fault], pick: Callable[[int, int], list[int]], asn: int) -> Keys:
    """``pick(n, k)``: ``k`` distinct indices below ``n`` (the endpoints a partial block hits)."""
    ep = faults.get("whatsapp/endpoints")
    blocked_hosts: set[str] = set()
    if ep is not None:
        blocked_hosts = (
            {_WA_HOSTS[i] for i in pick(16, 6)} if ep.partial else set(_WA_HOSTS)
        )  # fmt: skip
    queries: list[Entry] = []
    tcp: list[Entry] = []
    failing: list[str] = []
    for h in _WA_HOSTS:
        if h in blocked_hosts and ep is not None:
            q, c = _wa_endpoint(h, ep.technique, asn)
            failing.append(h)
        else:
            q, c = [_WA_Q[h]], _WA_TCP[h]
        queries.extend(q)
        tcp.extend(c)
    tls: list[Entry] = []
    reqs: list[Entry] = []
    status: dict[str, str | None] = {}
    for role, ep_ in (("whatsapp/registration", _WA_REG), ("whatsapp/web", _WA_WEB)):
        f = faults.get(role)
        q, c, t, r = ep_.parts(f)
        queries.extend(q)
        tcp.extend(c)
        tls.extend(t)
        reqs.extend(r)
        status[role] = r[-1]["failure"]
    reg_f, web_f = status["whatsapp/registration"], status["whatsapp/web"]
    return {
        **_httpt(queries, tcp, tls, reqs),
        "registration_server_failure": reg_f,
        "registration_server_status": "blocked" if reg_f else "ok",
        "whatsapp_endpoints_blocked": sorted(failing)
        if ep and ep.technique == "ip.blocked"
        else [],
        "whatsapp_endpoints_dns_inconsistent": sorted(failing)
        if ep and ep.technique.startswith("dns.")
        else [],
        "whatsapp_endpoints_status": "blocked" if failing and not ep_partial(ep) else "ok",
        "whatsapp_web_failure": web_f,
        "whatsapp_web_status": "blocked" if web_f else "ok",
    }


def ep_partial(f: Fault | None) -> bool:
    return f is not None and f.partial


# -- Telegram -------------------------------------------------------------------------

_TG_DCS = ["149.154.175.50", "149.154.167.51", "149.154.175.100", "149.154.167.91",
           "149.154.171.5", "95.161.76.100"]  # fmt: skip
_TG_WEB = _Https("web.telegram.org", "149.154.167.99", "https://web.telegram.org/", 200, 62041,
                 "Telegram Messenger Inc", 0.6)  # fmt: skip


def _tg_dc(ip: str, blocked: bool, n: int) -> tuple[list[Entry], list[Entry]]:
    t = 0.06 + n * 0.05
    conns, reqs = [], []
    for port in (80, 443):
        url = f"http://{ip}/" if port == 80 else f"http://{ip}:443/"
        if blocked:
            conns.append(_tcp(ip, port, TIMEOUT, t + 10.0))
            reqs.append(_request(url, "POST", TIMEOUT, None, t + 10.0, f"{ip}:{port}"))
        else:
            conns.append(_tcp(ip, port, None, t))
            reqs.append(_request(url, "POST", None, 404, t + 0.02, f"{ip}:{port}"))
    return conns, reqs


_TG_OK = [_tg_dc(ip, False, n) for n, ip in enumerate(_TG_DCS)]


def telegram(faults: dict[str, Fault], pick: Callable[[int, int], list[int]], asn: int) -> Keys:
    faults = effective("telegram", faults)
    dc = faults.get("telegram/dc")
    blocked: set[int] = set()
    if dc is not None:
        blocked = set(pick(len(_TG_DCS), 3)) if dc.partial else set(range(len(_TG_DCS)))
    tcp: list[Entry] = []
    reqs: list[Entry] = []
    for n, ip in enumerate(_TG_DCS):
        c, r = _tg_dc(ip, True, n) if n in blocked else _TG_OK[n]
        tcp.extend(c)
        reqs.extend(r)
    q, c, t, r = _TG_WEB.parts(faults.get("telegram/web"))
    web_failure = r[-1]["failure"]
    return {
        **_httpt(q, tcp + c, t, reqs + r),
        "telegram_http_blocking": bool(blocked) and len(blocked) == len(_TG_DCS),
        "telegram_tcp_blocking": bool(blocked) and len(blocked) == len(_TG_DCS),
        "telegram_web_failure": web_failure,
        "telegram_web_status": "blocked" if web_failure else "ok",
    }


# -- Signal ---------------------------------------------------------------------------

_SIGNAL = {
    "signal/sfu": _Https("sfu.voip.signal.org", "35.186.192.249", "https://sfu.voip.signal.org/",
                         503, 396982, "Google LLC", 0.02),
    "signal/storage": _Https("storage.signal.org", "142.251.209.19",
                             "https://storage.signal.org/", 404, 15169, "Google LLC", 0.03),
    "signal/directory": _Https("cdsi.signal.org", "40.122.45.194", "https://cdsi.signal.org/",
                               404, 8075, "Microsoft Corporation", 0.04),
    "signal/chat": _Https("chat.signal.org", "13.248.212.111", "https://chat.signal.org/", 404,
                          16509, "Amazon.com, Inc.", 0.05),
}  # fmt: skip
_UPTIME = _query("uptime.signal.org", ["127.0.0.1"], None, "", 0.01)


def signal(faults: dict[str, Fault], pick: Callable[[int, int], list[int]], asn: int) -> Keys:
    queries: list[Entry] = [_UPTIME]
    tcp: list[Entry] = []
    tls: list[Entry] = []
    reqs: list[Entry] = []
    failure: str | None = None
    for role, ep in _SIGNAL.items():
        q, c, t, r = ep.parts(faults.get(role))
        queries.extend(q)
        tcp.extend(c)
        tls.extend(t)
        reqs.extend(r)
        failure = failure or r[-1]["failure"]
    return {
        **_httpt(queries, tcp, tls, reqs),
        "signal_backend_failure": failure,
        "signal_backend_status": "blocked" if failure else "ok",
    }


# -- Facebook Messenger ---------------------------------------------------------------

_FBM = {
    "b_api": ("messenger/api", "b-api.facebook.com", "157.240.196.12"),
    "b_graph": ("messenger/api", "b-graph.facebook.com", "157.240.196.17"),
    "edge": ("messenger/edge", "edge-mqtt.facebook.com", "157.240.196.62"),
    "external_cdn": ("messenger/cdn", "external.xx.fbcdn.net", "157.240.196.16"),
    "scontent_cdn": ("messenger/cdn", "scontent.xx.fbcdn.net", "157.240.196.20"),
    "star": ("messenger/star", "star.c10r.facebook.com", "157.240.196.35"),
    "stun": ("messenger/stun", "stun.fbsbx.com", "157.240.196.61"),
}
_FBM_OK = {
    k: (_query(h, [ip], _FB, _FB_ORG, 0.01 + n * 0.01), _tcp(ip, 443, None, 0.08 + n * 0.01))
    for n, (k, (_, h, ip)) in enumerate(_FBM.items())
}


def facebook_messenger(
    faults: dict[str, Fault], pick: Callable[[int, int], list[int]], asn: int
) -> Keys:
    queries: list[Entry] = []
    tcp: list[Entry] = []
    keys: dict[str, bool] = {}
    dns_blocking = tcp_blocking = False
    for key, (role, host, ip) in _FBM.items():
        q, c = _FBM_OK[key]
        consistent, reachable = True, True
        f = faults.get(role)
        if f is not None:
            if f.technique == "dns.inconsistent":
                q, consistent = _query(host, [SINKHOLE], asn, "", 0.02), False
            elif f.technique == "dns.nxdomain":
                q, consistent = _query_fail(host, NXDOMAIN, 0.02), False
            elif f.technique in ("tcp.timeout", "tcp.refused"):
                fail = TIMEOUT if f.technique == "tcp.timeout" else REFUSED
                c, reachable = _tcp(ip, 443, fail, 10.0 if fail == TIMEOUT else 0.1), False
            else:
                raise ValueError(f"no Messenger fault named {f.technique}")
        queries.append(q)
        keys[f"facebook_{key}_dns_consistent"] = consistent
        dns_blocking |= not consistent
        if key != "stun":
            if consistent:
                tcp.append(c)
            keys[f"facebook_{key}_reachable"] = reachable and consistent
            tcp_blocking |= not reachable
    return {
        "failed_operation": None,
        "failure": None,
        "queries": queries,
        "tcp_connect": tcp,
        **keys,
        "facebook_dns_blocking": dns_blocking,
        "facebook_tcp_blocking": tcp_blocking,
    }


IM_BUILDERS: dict[str, Callable[[dict[str, Fault], Callable[[int, int], list[int]], int], Keys]] = {
    "whatsapp": whatsapp,
    "telegram": telegram,
    "signal": signal,
    "facebook_messenger": facebook_messenger,
}
