"""How many operations run at once: a global bound and one per destination address.

A slot is *leased*: it is held while the operation runs, but for at most
``lease`` seconds. A healthy operation finishes well within that and frees its
slot at once, so the bounds keep bursts small; a blackholed one keeps waiting for
its own timeout but stops holding others back. Without the lease, a censor that
drops everything would make a run cost one timeout per batch of slots (in a
simulation, where many names share one address, one timeout per two targets)
instead of about one timeout in all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

#: Longer than a healthy connect or handshake on most paths, short enough that
#: a destination still gets up to ``per_destination / LEASE`` new operations a second.
LEASE = 0.1


class _Lease:
    def __init__(self, sems: list[asyncio.Semaphore]) -> None:
        self._sems = sems
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            for s in self._sems:
                s.release()


class Limiter:
    def __init__(self, total: int, per_destination: int, *, lease: float = LEASE) -> None:
        self._total = asyncio.Semaphore(total)
        self._per = per_destination
        self._dest: dict[str, asyncio.Semaphore] = {}
        self._lease = lease

    @asynccontextmanager
    async def slot(self, destination: str, *, per: int | None = None) -> AsyncIterator[None]:
        """Hold a slot for ``destination`` (an IP address or a resolver name).

        ``per`` overrides the per-destination bound (resolvers are built for many
        concurrent queries; an app's server is not ours to burst at).
        """
        dest = self._dest.get(destination)
        if dest is None:
            dest = self._dest[destination] = asyncio.Semaphore(per or self._per)
        # Destination first: waiting for a busy server must not hold a global slot.
        await dest.acquire()
        try:
            await self._total.acquire()
        except BaseException:
            dest.release()
            raise
        lease = _Lease([self._total, dest])
        timer = asyncio.get_running_loop().call_later(self._lease, lease.release)
        try:
            yield
        finally:
            timer.cancel()
            lease.release()
