"""Throughput A/B: the same download from the helper with an app's SNI and a control SNI.

SNI-triggered throttling (Russia/Twitter 2021: policing near 130–150 kbit/s) shows
as a low rate for the app's name and a normal one for the control name, from the
*same* server. Both downloads run at once and stop after ``seconds`` whatever they
got, so a throttled path costs no more time than a fast one; the rate is bytes
over time. The helper's certificate is not checked: the point is the name in the
ClientHello, not the server's identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import Final, TypedDict

from voipwatch.probe import tcp, tls
from voipwatch.probe.errors import TIMEOUT, ProbeFailure, failure_of
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.route import DIRECT, Route

_READ = 64 * 1024


#: Reads (TLS records) needed for a steady rate; fewer extend the window once...
MIN_SAMPLES: Final = 12
#: ...to this many times ``seconds``.
EXTEND: Final = 4
#: The share of the control's rate below which the A/B is made again.
AGAIN_BELOW: Final = 0.5


class Download(TypedDict):
    """One download (``target`` or ``control`` of ``x_throughput_ab``)."""

    bytes: int
    seconds: float
    rate_kbps: float
    failure: str | None


async def download(
    ip: str,
    port: int,
    sni: str,
    nbytes: int,
    seconds: float,
    *,
    timeout: float = 3.5,
    source: str = "",
    route: Route = DIRECT,
) -> Download:
    """``{"bytes", "seconds", "rate_kbps", "failure"}`` for one download."""
    ctx = tls.client_context(verify=False, alpn=["http/1.1"])
    got = 0
    failure: str | None = None
    samples: list[tuple[float, int]] = []
    t0 = time.monotonic()
    t_body: float | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        # Connect, handshake and response head share one bound; the body has its own.
        async with asyncio.timeout(timeout):
            reader, writer = await route.open_tcp(ip, port, timeout, source)
            await tls.handshake(writer, ctx, sni, timeout)
            req = (
                f"GET /download?bytes={nbytes} HTTP/1.1\r\nHost: {sni}\r\n"
                "User-Agent: voipwatch\r\nConnection: close\r\n\r\n"
            )
            writer.write(req.encode())
            head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise ProbeFailure("http_request_failed")
        t_body = time.monotonic()
        deadline = t_body + seconds
        samples.append((t_body, 0))
        extended = False
        while got < nbytes:
            left = deadline - time.monotonic()
            if left <= 0 and not extended and len(samples) < MIN_SAMPLES:
                # A throttled download delivers a 16 kB TLS record a second at
                # 128 kbit/s: too few records for a rate. Listen longer, once.
                extended = True
                deadline = t_body + seconds * EXTEND
                left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(reader.read(_READ), left)
            except TimeoutError:
                continue  # the window ended: extend it once, or stop (above)
            if not chunk:
                failure = "eof_error"
                break
            got += len(chunk)
            samples.append((time.monotonic(), got))
        t_end = time.monotonic()
    except Exception as exc:
        failure = failure_of(exc)
        t_end = time.monotonic()
    finally:
        if writer is not None:
            with contextlib.suppress(OSError, ssl.SSLError):
                await tcp.close(writer)
    start = t_body if t_body is not None else t0
    elapsed = max(t_end - start, 1e-6)
    if got == 0 and failure is None:
        failure = TIMEOUT
    return {
        "bytes": got,
        "seconds": round(elapsed, 4),
        "rate_kbps": round(steady_rate_kbps(samples, got, elapsed), 3) if got else 0.0,
        "failure": failure,
    }


def steady_rate_kbps(samples: list[tuple[float, int]], total: int, elapsed: float) -> float:
    """The rate over the second half of the transfer, in kbit/s.

    The first moments of a download are TCP's slow start and, behind a shaper, the
    queue filling; a throttle is its steady rate. With too few samples (a transfer
    that ended at once) the whole transfer's average stands in.
    """
    if len(samples) >= 8:
        t_first, t_last = samples[0][0], samples[-1][0]
        mid = t_first + (t_last - t_first) / 2
        half = [(t, b) for t, b in samples if t >= mid]
        if len(half) >= 2 and half[-1][0] > half[0][0]:
            (ta, ba), (tb, bb) = half[0], half[-1]
            return (bb - ba) * 8 / (tb - ta) / 1000
    return total * 8 / elapsed / 1000


async def ab(
    ip: str,
    port: int,
    target_sni: str,
    control_sni: str,
    nbytes: int,
    seconds: float,
    *,
    source: str = "",
    route: Route = DIRECT,
) -> JsonObject:
    """The ``x_throughput_ab`` key.

    One download after the other, the control first (it is the quick one): run at
    once, the two would share the path's bottleneck and each would measure the
    other as much as the network. When the app's name got less than ``AGAIN_BELOW``
    of the control's rate, the pair is made again in the other order (``again``): a
    throttle by name slows every download with that name, while a busy machine or
    path slows one now and then, whichever name it carries.
    """
    c = await download(ip, port, control_sni, nbytes, seconds, source=source, route=route)
    t = await download(ip, port, target_sni, nbytes, seconds, source=source, route=route)
    out: JsonObject = {
        "target_sni": target_sni,
        "control_sni": control_sni,
        "target": t,
        "control": c,
        "ratio": _ratio(t, c),
    }
    if t["failure"] is None and c["rate_kbps"] and t["rate_kbps"] < AGAIN_BELOW * c["rate_kbps"]:
        t2 = await download(ip, port, target_sni, nbytes, seconds, source=source, route=route)
        c2 = await download(ip, port, control_sni, nbytes, seconds, source=source, route=route)
        out["again"] = {"target": t2, "control": c2, "ratio": _ratio(t2, c2)}
    return out


def _ratio(t: Download, c: Download) -> float | None:
    return round(t["rate_kbps"] / c["rate_kbps"], 4) if c["rate_kbps"] else None
