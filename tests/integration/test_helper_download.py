"""The helper's TLS download server is bounded per request, per source and per minute
(loopback only)."""

from __future__ import annotations

import asyncio
import ssl

from voipwatch.helper import download
from voipwatch.probe.config import MAX_THROUGHPUT_BYTES, ProbeConfig

MiB = 1024 * 1024


async def _get(port: int, target: str) -> tuple[int, int, int]:
    """(status, Content-Length, body bytes received) of one GET over TLS."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="x.test")
    w.write(f"GET {target} HTTP/1.1\r\nHost: x.test\r\n\r\n".encode())
    await w.drain()
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 20)
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    got = 0
    while got < length:
        chunk = await asyncio.wait_for(r.read(1 << 16), 20)
        if not chunk:
            break
        got += len(chunk)
    w.close()
    return status, length, got


def test_one_request_gets_at_most_what_a_probe_asks() -> None:
    assert download.MAX_BYTES == MAX_THROUGHPUT_BYTES == 16 * MiB
    assert download.requested_bytes("/download?bytes=67108864") == 16 * MiB
    assert download.requested_bytes("/download?bytes=-5") == 0
    assert ProbeConfig().helper.throughput_bytes <= download.MAX_BYTES

    async def main() -> tuple[int, int, int]:
        server = await download.start_download("127.0.0.1", 0, download.self_signed_context())
        port = server.sockets[0].getsockname()[1]
        try:
            return await _get(port, "/download?bytes=67108864")
        finally:
            server.close()

    assert asyncio.run(main()) == (200, 16 * MiB, 16 * MiB)


def test_per_source_budget_and_concurrency() -> None:
    async def main() -> list[tuple[int, int, int]]:
        budget = download.Budget(bytes_per_minute=3 * MiB, concurrent_per_source=1)
        server = await download.start_download(
            "127.0.0.1", 0, download.self_signed_context(), budget
        )
        port = server.sockets[0].getsockname()[1]
        try:
            first = await _get(port, f"/download?bytes={2 * MiB}")
            second = await _get(port, f"/download?bytes={2 * MiB}")  # over the minute's bytes
            small = await _get(port, f"/download?bytes={MiB // 2}")  # still within it
            return [first, second, small]
        finally:
            server.close()

    assert asyncio.run(main()) == [
        (200, 2 * MiB, 2 * MiB),
        (429, 0, 0),
        (200, MiB // 2, MiB // 2),
    ]


def test_downloads_window_takes_now() -> None:
    d = download.Downloads(
        download.Budget(bytes_per_minute=10, concurrent_per_source=1, concurrent=2)
    )
    assert d.begin("a", 6, 0.0)
    assert not d.begin("a", 1, 0.0)  # one at a time per source
    d.end("a")
    assert not d.begin("a", 5, 1.0)  # 6 + 5 > 10 in the minute
    assert d.begin("a", 4, 1.0)
    d.end("a")
    assert not d.begin("a", 10, 60.5)  # the first left the window, the second not yet
    assert d.begin("a", 6, 60.5)
    d.end("a")
    assert d.begin("b", 1, 61.0)
    assert d.begin("c", 1, 61.0)
    assert not d.begin("e", 1, 61.0)  # two at once in all
