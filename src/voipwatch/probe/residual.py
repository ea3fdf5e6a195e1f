"""Residual censorship: does a trigger leave its 3-tuple blocked for innocent traffic?

Censors that keep state (the Great Firewall's 90–180 s, Geneva's lab censors, a
nft set with a timeout) block not only the packet that matched but every later
packet between the same client, server and port. The check is Censored Planet's
sandwich on one UDP 3-tuple (this client, the test helper, a port no other test
of the run touches):

1. ``before``: innocent bytes (the helper echoes them): the 3-tuple works;
2. ``trigger``: a STUN binding request, what every call sends first;
3. ``after``: innocent bytes again on the same 3-tuple, ``AFTER_FLOWS`` separate
   flows (so that a lossy path cannot fake a block), and at the same moment
   ``other``: the same on a second port no trigger touched (the path still works);
4. ``late``: after ``wait`` seconds, innocent bytes on the same 3-tuple once more
   (the block lifted: it was residual, not a port block that happened to start).

The check runs once per run, beside the other tests; its result goes into every
call-plane measurement of the run (``x_residual``). Nothing about the client's
address is recorded.
"""

from __future__ import annotations

import asyncio

from voipwatch.probe import stun, tcp, udp
from voipwatch.probe.exchanges import random_payload
from voipwatch.probe.measurement import JsonObject, Recorder

#: Innocent flows right after the trigger, on the triggered 3-tuple and on the other.
AFTER_FLOWS = 3
TRIGGER = "stun_binding"
#: What the check costs besides ``wait``: the trigger, ``after`` and ``late``, each at
#: most one UDP exchange with its retransmissions (0.5 + 1 + 2 s), plus slack.
OVERHEAD = 3 * (udp.RTO * (2 ** (udp.RETRIES + 1) - 1)) + 2.0


async def _innocent(rec: Recorder, step: str, ip: str, port: int, source: str) -> JsonObject:
    data = random_payload()
    t0 = rec.now()
    ans = await udp.exchange(ip, port, data, lambda d: d == data, source=source)
    return _entry(rec, step, "random", port, t0, ans)


def _entry(
    rec: Recorder, step: str, payload: str, port: int, t0: float, ans: udp.Answer
) -> JsonObject:
    return {
        "step": step,
        "payload": payload,
        "port": port,
        "success": ans.failure is None,
        "failure": ans.failure,
        "rtt": ans.rtt,
        "attempt": ans.attempt,
        "t0": t0,
        "t": rec.now(),
    }


async def check(
    rec: Recorder, ip: str, port: int, other_port: int, wait: float, *, source: str = ""
) -> JsonObject:
    """The ``x_residual`` key: every step of the sandwich on ``ip:port``."""
    steps = [await _innocent(rec, "before", ip, port, source)]
    tid = stun.new_transaction_id()
    t0 = rec.now()
    ans = await udp.exchange(
        ip,
        port,
        stun.binding_request(tid),
        lambda d: stun.classify_reply(stun.BINDING_REQUEST, d, tid) is not None,
        source=source,
    )
    steps.append(_entry(rec, "trigger", TRIGGER, port, t0, ans))
    steps += await asyncio.gather(
        *(_innocent(rec, "after", ip, port, source) for _ in range(AFTER_FLOWS)),
        *(_innocent(rec, "other", ip, other_port, source) for _ in range(AFTER_FLOWS)),
    )
    await asyncio.sleep(wait)
    steps.append(await _innocent(rec, "late", ip, port, source))
    return {
        "address": tcp.join_hostport(ip, port),
        "port": port,
        "other_port": other_port,
        "trigger": TRIGGER,
        "wait": wait,
        "steps": steps,
    }
