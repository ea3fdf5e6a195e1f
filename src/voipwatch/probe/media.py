"""Media-plane A/B replay (Wehe-style): an RTP-shaped stream against its bit-inverted twin.

The *original* stream looks like the start of a WebRTC call on the wire: a STUN
binding request, a DTLS-ClientHello-shaped datagram, then RTP at 20 ms pacing
(first bytes ``0x80`` and ``0x90``, ~160-byte payloads). The *inverted* stream is
the same datagrams with every bit flipped, so a classifier that matches on
payload cannot recognise it, while sizes and timing are identical. Both go to the
helper's reflector at the same time, from two sockets, and the reflections are
counted: loss, jitter (RFC 3550's estimator on the transit time) and throughput in
0.25 s samples.

Decision (Wehe's ``replay_analyzerServer``): *detected* when the throughput CDFs
differ by an area > 0.1 **and** a two-sample KS test gives p < 0.05, with both
streams alive; *none* when area ≤ 0.1 and p ≥ 0.05; otherwise — or when both
streams are lossy alike, or there are too few samples — *inconclusive*.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import importlib
import itertools
import os
import struct
import time
from dataclasses import dataclass, field

from voipwatch.probe import stun
from voipwatch.probe.errors import failure_of
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.route import DIRECT, Route

PACING = 0.02
PAYLOAD = 160
SAMPLE = 0.25
#: After the last packet, wait for late reflections until every packet is back, or
#: none came for GRACE seconds (a busy machine delays the sender and the reflector:
#: reflections still trickling in are waited for), at most MAX_GRACE in all.
GRACE = 1.0
MAX_GRACE = 4.0
AREA_THRESHOLD = 0.1
KS_THRESHOLD = 0.05
MIN_SAMPLES = 8
#: Both streams losing more than this, alike, says "bad path", not "targeted".
LOSSY = 0.2


def dtls_client_hello() -> bytes:
    """A datagram shaped like a DTLS 1.2 ClientHello (record 0x16 0xfefd), ~180 bytes."""
    random = os.urandom(32)
    cookie = b""
    suites = bytes.fromhex("c02bc02fc00ac014cca9cca8")
    ext = bytes.fromhex("000e000700040001000200") + bytes.fromhex("000a00080006001d00170018")
    body = (
        b"\xfe\xfd"
        + random
        + b"\x00"  # session id
        + bytes([len(cookie)])
        + cookie
        + struct.pack("!H", len(suites))
        + suites
        + b"\x01\x00"  # compression: null
        + struct.pack("!H", len(ext))
        + ext
    )
    body += b"\x00" * max(0, 140 - len(body))
    hs = (
        b"\x01"
        + len(body).to_bytes(3, "big")
        + b"\x00\x00"
        + b"\x00\x00\x00"
        + len(body).to_bytes(3, "big")
        + body
    )
    return (
        b"\x16\xfe\xfd"
        + b"\x00\x00"
        + b"\x00\x00\x00\x00\x00\x00"
        + struct.pack("!H", len(hs))
        + hs
    )


def invert(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def rtp_stream(count: int) -> list[bytes]:
    """``count`` datagrams: STUN prelude, DTLS-like hello, then RTP (0x80/0x90)."""
    ssrc = os.urandom(4)
    payload = os.urandom(PAYLOAD)
    out = [stun.binding_request(), dtls_client_hello()]
    seq = int.from_bytes(os.urandom(2), "big")
    ts = int.from_bytes(os.urandom(4), "big")
    for i in range(max(0, count - len(out))):
        s = (seq + i) & 0xFFFF
        t = (ts + 160 * i) & 0xFFFFFFFF
        if i % 2:
            head = (
                struct.pack("!BBHI", 0x90, 111, s, t)
                + ssrc
                + b"\xbe\xde\x00\x01"
                + b"\x10\x00\x00\x00"
            )
        else:
            head = struct.pack("!BBHI", 0x80, 111 | (0x80 if i == 0 else 0), s, t) + ssrc
        out.append(head + payload)
    return out[:count] if count < 2 else out


@dataclass
class StreamStats:
    sent: int = 0
    received: int = 0
    loss: float | None = None
    jitter_ms: float | None = None
    throughput_kbps: float | None = None
    samples_kbps: list[float] = field(default_factory=list)
    failure: str | None = None

    def as_dict(self) -> JsonObject:
        return {
            "sent": self.sent,
            "received": self.received,
            "loss": self.loss,
            "jitter_ms": self.jitter_ms,
            "throughput_kbps": self.throughput_kbps,
            "samples_kbps": self.samples_kbps,
            "failure": self.failure,
        }


async def replay(
    ip: str,
    port: int,
    packets: list[bytes],
    seconds: float,
    source: str = "",
    route: Route = DIRECT,
) -> StreamStats:
    """Send ``packets`` paced at 20 ms to the reflector; what came back."""
    st = StreamStats()
    index = {p: i for i, p in enumerate(packets)}
    try:
        transport, proto = await route.open_udp(ip, port, source)
    except Exception as exc:
        st.failure = failure_of(exc)
        return st
    sent_at: dict[int, float] = {}
    first = stun.parse(packets[0]) if packets else None
    stun_tid = first.transaction_id if first is not None else b""
    arrivals: list[tuple[float, int, int]] = []  # time, index, size
    start = time.monotonic()
    end = start + seconds

    back: set[int] = set()
    all_back = asyncio.Event()
    sending = True

    async def receive() -> None:
        while True:
            item = await proto.queue.get()
            now = time.monotonic()
            if isinstance(item, Exception):
                st.failure = st.failure or failure_of(item)
                continue
            i = index.get(item)
            if i is None and stun_tid and stun.classify_reply(stun.BINDING_REQUEST, item, stun_tid):
                i = 0  # the prelude's answer (the address in it is not kept)
            if i is not None and i in sent_at:
                arrivals.append((now, i, len(item)))
                back.add(i)
                if not sending and len(back) >= len(sent_at):
                    all_back.set()

    rx = asyncio.get_running_loop().create_task(receive())
    try:
        for i, p in enumerate(packets):
            at = start + i * PACING
            if at >= end:
                break
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                transport.sendto(p)
            except OSError as exc:
                st.failure = st.failure or failure_of(exc)
            sent_at[i] = time.monotonic()
            st.sent += 1
        sending = False
        until = time.monotonic() + MAX_GRACE
        while len(back) < len(sent_at) and time.monotonic() < until:
            seen = len(back)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_back.wait(), min(GRACE, until - time.monotonic()))
            if len(back) == seen:
                break  # nothing more came back: the rest is lost
    finally:
        rx.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await rx
        transport.close()
    _summarise(st, start, seconds, sent_at, arrivals)
    return st


def _summarise(
    st: StreamStats,
    start: float,
    seconds: float,
    sent_at: dict[int, float],
    arrivals: list[tuple[float, int, int]],
) -> None:
    seen: set[int] = set()
    jitter = 0.0
    prev: float | None = None
    bins = [0] * max(1, int(seconds / SAMPLE))
    total = 0
    for t, i, size in sorted(arrivals):
        if i in seen:
            continue  # a duplicate reflection counts once
        seen.add(i)
        transit = t - sent_at[i]
        if prev is not None:
            jitter += (abs(transit - prev) - jitter) / 16
        prev = transit
        b = int((t - start) / SAMPLE)
        if 0 <= b < len(bins):
            bins[b] += size
        total += size
    st.received = len(seen)
    if st.sent:
        st.loss = round(1 - st.received / st.sent, 4)
    st.jitter_ms = round(jitter * 1000, 3) if len(seen) > 1 else None
    st.throughput_kbps = round(total * 8 / seconds / 1000, 3)
    st.samples_kbps = [round(b * 8 / SAMPLE / 1000, 3) for b in bins]


def area_between_cdfs(a: list[float], b: list[float]) -> float:
    """The area between two empirical CDFs, over the larger maximum (Wehe's area test)."""
    if not a or not b:
        return 1.0
    xs = sorted(set(a) | set(b))
    top = max(xs)
    if top <= 0:
        return 0.0
    sa, sb = sorted(a), sorted(b)

    def cdf(s: list[float], x: float) -> float:
        return bisect.bisect_right(s, x) / len(s)

    area = 0.0
    for x0, x1 in itertools.pairwise(xs):
        area += abs(cdf(sa, x0) - cdf(sb, x0)) * (x1 - x0)
    return area / top


def ks_pvalue(a: list[float], b: list[float]) -> float:
    from scipy.stats import ks_2samp  # type: ignore[import-untyped]

    if not a or not b:
        return 0.0
    if a == b or (len(set(a)) == 1 and set(a) == set(b)):
        return 1.0
    return float(ks_2samp(a, b).pvalue)


def decide(original: StreamStats, inverted: StreamStats) -> JsonObject:
    """``area``, ``ks_p`` and ``differentiation`` for the pair."""
    a, b = original.samples_kbps, inverted.samples_kbps
    area = round(area_between_cdfs(a, b), 4)
    p = round(ks_pvalue(a, b), 4)
    alive = original.received > 0 and inverted.received > 0
    lo, li = original.loss or 0.0, inverted.loss or 0.0
    lossy_alike = lo > LOSSY and li > LOSSY and abs(lo - li) < LOSSY / 2
    if not alive or len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES or lossy_alike:
        verdict = "inconclusive"
    elif area > AREA_THRESHOLD and p < KS_THRESHOLD:
        verdict = "detected"
    elif area <= AREA_THRESHOLD and p >= KS_THRESHOLD:
        verdict = "none"
    else:
        verdict = "inconclusive"
    return {"area": area, "ks_p": p, "differentiation": verdict}


async def ab(
    ip: str, port: int, seconds: float, source: str = "", route: Route = DIRECT
) -> JsonObject:
    """The ``x_media_ab`` key: both streams at once, then the decision."""
    count = int(seconds / PACING)
    packets = rtp_stream(count)
    o, i = await asyncio.gather(
        replay(ip, port, packets, seconds, source, route),
        replay(ip, port, [invert(p) for p in packets], seconds, source, route),
    )
    # SciPy takes most of a second to import: not on the event loop, not during the streams.
    await asyncio.to_thread(importlib.import_module, "scipy.stats")
    return {"original": o.as_dict(), "inverted": i.as_dict(), **decide(o, i)}
