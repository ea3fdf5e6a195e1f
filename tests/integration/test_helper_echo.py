"""The helper's UDP echo cannot be set bouncing: a datagram is echoed as often as a
probe sends it, no more (loopback only)."""

from __future__ import annotations

import asyncio
import socket

from voipwatch.helper import echo
from voipwatch.probe.exchanges import random_payload


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_helpers_exchange_a_spoofed_datagram_a_bounded_number_of_times() -> None:
    """A datagram "from" helper A's port sent to helper B (as a spoofer would): B echoes
    it to A, A echoes it back, and after ``ECHO_TIMES`` rounds each it stops (it used to
    go ~1,600 rounds, until the rate limiter's burst ran out)."""

    async def main() -> tuple[int, int, int]:
        a_port, b_port = _free_udp_port(), _free_udp_port()
        # Two helpers, each port outside the other's own set.
        (a_t, a), *_ = await echo.start_udp("127.0.0.1", [a_port])
        (b_t, b), *_ = await echo.start_udp("127.0.0.1", [b_port])
        try:
            data = random_payload(200)
            a_t.sendto(data, ("127.0.0.1", b_port))  # the spoofed datagram
            for _ in range(20):  # bounded: 1 s at most
                await asyncio.sleep(0.05)
            return len(data), a.bytes_out, b.bytes_out
        finally:
            a_t.close()
            b_t.close()

    size, a_echoed, b_echoed = asyncio.run(main())
    assert b_echoed == echo.ECHO_TIMES * size
    assert a_echoed == echo.ECHO_TIMES * size  # then nothing more


def test_every_retransmission_is_answered_and_no_more() -> None:
    """A probe's exchange sends the same bytes up to ``ECHO_TIMES`` times from one
    socket: each is answered (on a lossy path the echo before may be what was lost);
    one more is not; a new socket is answered again."""

    async def main() -> list[int]:
        port = _free_udp_port()
        (t, _svc), *_ = await echo.start_udp("127.0.0.1", [port])
        got: list[int] = []
        try:
            data = random_payload(64)
            for _ in range(2):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind(("127.0.0.1", 0))
                    s.setblocking(False)
                    loop = asyncio.get_running_loop()
                    answers = 0
                    for _ in range(echo.ECHO_TIMES + 1):  # retransmissions, then one more
                        await loop.sock_sendto(s, data, ("127.0.0.1", port))
                        try:
                            async with asyncio.timeout(0.3):
                                reply = await loop.sock_recv(s, 2048)
                            assert reply == data
                            answers += 1
                        except TimeoutError:
                            pass
                    got.append(answers)
        finally:
            t.close()
        return got

    assert asyncio.run(main()) == [echo.ECHO_TIMES, echo.ECHO_TIMES]


def test_echoed_memory_is_bounded_and_forgets() -> None:
    seen = echo.Echoed(times=2)
    assert seen.may_echo("192.0.2.1", 5000, b"x", 0.0)
    assert seen.may_echo("192.0.2.1", 5000, b"x", 1.0)
    assert not seen.may_echo("192.0.2.1", 5000, b"x", 2.0)
    assert seen.may_echo("192.0.2.1", 5001, b"x", 2.0)  # another socket
    # Forgotten IDLE seconds after the first echo, however often it was refused since.
    assert seen.may_echo("192.0.2.1", 5000, b"x", echo.IDLE + 0.1)
    for i in range(echo.MAX_SOURCES + 10):
        seen.may_echo("192.0.2.1", 5000, i.to_bytes(4, "big"), 100.0)
    assert len(seen) <= echo.MAX_SOURCES + 1
