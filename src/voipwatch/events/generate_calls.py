"""The ``test_keys`` of synthetic ``voipwatch_call`` measurements (the call plane).

Shaped as :mod:`voipwatch.probe.experiments.calls` writes them: the exchanges with
the app's servers, the test helper and its controls, the media A/B and the
throughput A/B. Faults follow :data:`voipwatch.events.generate_keys.MECHANISMS`.
"""

from __future__ import annotations

from voipwatch.events.generate_keys import REFUSED, TIMEOUT, Entry, Fault, Keys
from voipwatch.ooni.model import Exchange, exchange_entry

# -- voipwatch_call -------------------------------------------------------------------

#: The test helper a deployment's probes point at (outside the censored networks).
HELPER = "198.51.100.20"
_TURN3 = "34.120.80.25"
_PUBLIC_STUN = (("stun.l.google.com", "74.125.250.129", 19302),
                ("stun.nextcloud.com", "159.69.191.124", 3478))  # fmt: skip
_RANDOM_PORT = 40417


def _ex(
    role: str,
    target: str,
    ip: str,
    port: int,
    payload: str,
    failure: str | None,
    *,
    transport: str = "udp",
    control: str = "",
    host: str = "",
    t: float = 0.0,
) -> Entry:
    ok = failure is None
    echoed = payload in ("random", "not_sip", "dtls_client_hello")
    return exchange_entry(
        Exchange(
            role=role,
            target=target,
            host=host,
            address=f"{ip}:{port}",
            port=port,
            transport=transport,
            payload=payload,
            control=control,
            success=ok,
            failure=failure,
            reply=("echo" if echoed else "response") if ok else None,
            rtt=0.041 if ok else None,
            bytes_sent=20 if payload != "" else 0,
            bytes_received=32 if ok and payload != "" else 0,
            attempt=0 if ok else 2,
            t0=t,
            t=round(t + (0.041 if ok else 3.0), 3),
        )
    )


def _relay_probe(
    role: str, ports: list[int], fault: Fault | None, *, tcp_port: int = 443
) -> list[Entry]:
    """The helper-side exchanges of one app role (probe/experiments/calls.py ``_helper``)."""
    tech = fault.technique if fault is not None else ""
    stun_fail: str | None = None
    other_fail: str | None = None
    dtls_fail: str | None = None
    if tech == "stun.dpi":
        stun_fail = TIMEOUT
    elif tech in ("udp.port", "udp.icmp"):
        stun_fail = other_fail = dtls_fail = TIMEOUT if tech == "udp.port" else REFUSED
    elif tech == "dtls.dpi":
        dtls_fail = TIMEOUT
    out: list[Entry] = []
    for port in ports:
        out.append(_ex(role, "helper", HELPER, port, "stun_binding", stun_fail, t=0.01))
        out.append(_ex(role, "helper", HELPER, port, "random", other_fail,
                       control="same_port_other_payload", t=0.01))  # fmt: skip
    first = ports[0]
    out.append(_ex(role, "helper", HELPER, tcp_port, "", None, transport="tcp", t=0.01))
    out.append(_ex(role, "helper", HELPER, _RANDOM_PORT, "stun_binding", None,
                   control="random_port", t=0.01))  # fmt: skip
    out.append(_ex(role, "helper", HELPER, first, "turn_allocate", stun_fail, t=0.02))
    out.append(_ex(role, "helper", HELPER, first, "dtls_client_hello", dtls_fail, t=0.02))
    out.append(_ex(role, "helper", HELPER, first, "random", other_fail,
                   control="same_port_other_payload", t=0.02))  # fmt: skip
    return out


def _call_whatsapp(faults: dict[str, Fault]) -> Keys:
    return {"x_exchanges": _relay_probe("whatsapp/relay", [3478], faults.get("whatsapp/relay"))}


def _call_signal(faults: dict[str, Fault]) -> Keys:
    f = faults.get("signal/turn")
    role, host = "signal/turn", "turn3.voip.signal.org"
    app_fail = TIMEOUT if f is not None else None
    tcp_fail = TIMEOUT if f is not None and f.technique == "ip.blocked" else None
    ex = [
        _ex(role, "app", _TURN3, 3478, "stun_binding", app_fail, host=host),
        _ex(role, "app", _TURN3, 443, "stun_binding", app_fail, host=host),
        _ex(role, "app", _TURN3, 80, "", tcp_fail, transport="tcp", host=host),
    ]
    helper_fault = f if f is not None and f.technique == "stun.dpi" else None
    return {"x_exchanges": ex + _relay_probe(role, [3478, 443], helper_fault)}


def _call_generic(faults: dict[str, Fault]) -> Keys:
    ex: list[Entry] = []
    st = faults.get("stun/public")
    stun_fail = TIMEOUT if st is not None else None
    other_fail = TIMEOUT if st is not None and st.technique == "udp.port" else None
    for host, ip, port in _PUBLIC_STUN:
        ex.append(_ex("stun/public", "public", ip, port, "stun_binding", stun_fail, host=host))
    for port in sorted({p for _, _, p in _PUBLIC_STUN}):
        ex.append(_ex("stun/public", "helper", HELPER, port, "stun_binding", stun_fail))
        ex.append(_ex("stun/public", "helper", HELPER, port, "random", other_fail,
                      control="same_port_other_payload"))  # fmt: skip
    ex.append(_ex("stun/public", "helper", HELPER, _RANDOM_PORT, "stun_binding", None,
                  control="random_port"))  # fmt: skip
    sip = faults.get("sip/signalling")
    sip_fail = TIMEOUT if sip is not None else None
    not_sip_fail = TIMEOUT if sip is not None and sip.technique == "sip.port" else None
    # SIP over TLS hides the protocol and uses 5061: a partial block leaves it working.
    tls_fail = None if sip is None or sip.partial else sip_fail
    tls_other = None if sip is None or sip.partial else not_sip_fail
    r = "sip/signalling"
    ex += [
        _ex(r, "helper", HELPER, 5060, "sip_options", sip_fail),
        _ex(r, "helper", HELPER, 5060, "not_sip", not_sip_fail, control="same_port_other_payload"),
        _ex(r, "helper", HELPER, 5060, "sip_options", sip_fail, transport="tcp"),
        _ex(r, "helper", HELPER, 5060, "not_sip", not_sip_fail, transport="tcp",
            control="same_port_other_payload"),
        _ex(r, "helper", HELPER, 5061, "sip_options", tls_fail, transport="tls"),
        _ex(r, "helper", HELPER, 5061, "not_sip", tls_other, transport="tls",
            control="same_port_other_payload"),
    ]  # fmt: skip
    media = faults.get("webrtc/media")
    if media is not None:
        ab: Entry = {
            "original": {"sent": 500, "received": 21, "loss": 0.958, "jitter_ms": 4.1},
            "inverted": {"sent": 500, "received": 499, "loss": 0.002, "jitter_ms": 2.2},
            "area": 0.93,
            "ks_p": 0.0,
            "differentiation": "detected",
        }
    else:
        ab = {
            "original": {"sent": 500, "received": 499, "loss": 0.002, "jitter_ms": 2.3},
            "inverted": {"sent": 500, "received": 500, "loss": 0.0, "jitter_ms": 2.2},
            "area": 0.02,
            "ks_p": 0.91,
            "differentiation": "none",
        }
    thr = faults.get("whatsapp/web")
    rate = 118.4 if thr is not None else 24_180.0
    tp: Entry = {
        "target_sni": "web.whatsapp.com",
        "control_sni": "example.org",
        "target": {"bytes": 2_000_000, "seconds": 4.0, "rate_kbps": rate, "failure": None},
        "control": {"bytes": 2_000_000, "seconds": 0.66, "rate_kbps": 25_020.0, "failure": None},
        "ratio": round(rate / 25_020.0, 4),
    }
    return {"x_exchanges": ex, "x_media_ab": ab, "x_throughput_ab": tp}


def voipwatch_call(input_: str, faults: dict[str, Fault]) -> Keys:
    if input_ == "whatsapp":
        keys = _call_whatsapp(faults)
    elif input_ == "signal":
        keys = _call_signal(faults)
    elif input_ == "generic":
        keys = _call_generic(faults)
    else:
        raise ValueError(f"no call-plane input named {input_}")
    return {
        "failure": None,
        "queries": [],
        "tcp_connect": [],
        "tls_handshakes": [],
        "requests": [],
        "x_exchanges": keys["x_exchanges"],
        "x_media_ab": keys.get("x_media_ab"),
        "x_throughput_ab": keys.get("x_throughput_ab"),
        "x_residual": None,
    }
