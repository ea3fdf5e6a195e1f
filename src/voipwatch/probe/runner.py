"""Run the tests of one probe run concurrently, within a hard time bound.

Every test runs at once (one asyncio task group), so a network that drops
everything costs about one operation timeout, not their sum; the concurrency
slots (``limits``) keep bursts small. ``asyncio.timeout(run)`` bounds the whole
run: whatever the network does, :func:`run` returns in time, and operations cut
short are recorded as ``generic_timeout_error``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from voipwatch.catalog import Catalog, load
from voipwatch.errors import InvalidValue, UsageError
from voipwatch.probe import control_client, residual, via
from voipwatch.probe.config import ProbeConfig
from voipwatch.probe.errors import failure_of
from voipwatch.probe.experiments import ALIASES, APPS, Experiment, make
from voipwatch.probe.experiments.calls import (
    CALL_APPS,
    GENERIC,
    CallGeneric,
    Shared,
    make_call,
)
from voipwatch.probe.measurement import JsonObject, envelope
from voipwatch.probe.route import ToolSpec, ViaRoute
from voipwatch.probe.steps import Ctx, Env

#: ``on_progress(done, total, what)``: called as each test finishes.
Progress = Callable[[int, int, str], None]


PLANES = ("signalling", "media", "all")


def resolve_apps(apps: list[str] | None, plane: str = "signalling") -> list[str]:
    """Normalised app ids (raises :class:`UsageError` naming the unknown ones).

    The known apps depend on the plane: the signalling tests (``APPS``), the
    call-plane tests (``CALL_APPS``, FaceTime among them), or both.
    """
    if plane not in PLANES:
        raise InvalidValue("plane", plane, f"{plane!r} is not signalling, media or all")
    known: tuple[str, ...] = {
        "signalling": APPS,
        "media": CALL_APPS,
        "all": tuple(dict.fromkeys((*APPS, *CALL_APPS))),
    }[plane]
    if not apps:
        return list(known)
    out: list[str] = []
    unknown: list[str] = []
    for a in apps:
        key = ALIASES.get(a.strip().lower(), a.strip().lower())
        if key in known:
            if key not in out:
                out.append(key)
        else:
            unknown.append(a)
    if unknown:
        raise UsageError(f"unknown app(s): {', '.join(unknown)}; known apps: {', '.join(known)}")
    return out


class _Test:
    def __init__(self, exp: Experiment, env: Env) -> None:
        self.exp = exp
        self.ctx = Ctx(env)
        self.error: str | None = None
        self.runtime: float | None = None
        self.x_control: JsonObject | None = None
        self.x_control_failure: str | None = None

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self.ctx.tg = tg
                url = self.ctx.env.config.helper.url
                if url and self.exp.asks_control:
                    tg.create_task(self._control(url))
                await self.exp.measure(self.ctx)
        except Exception as exc:  # a probe bug must not cost the other tests
            self.error = failure_of(exc)
        self.runtime = self.ctx.rec.now()

    async def _control(self, url: str) -> None:
        self.x_control, self.x_control_failure = await control_client.ask(
            self.ctx, self.exp.plan(), url
        )

    def measurement(self, config: ProbeConfig, test_start: datetime) -> JsonObject:
        rec = self.ctx.rec
        rec.close()
        try:
            keys = self.exp.keys()
        except Exception as exc:
            keys, self.error = {}, failure_of(exc)
        if (
            self.x_control is None
            and self.x_control_failure is None
            and config.helper.url
            and self.exp.asks_control
        ):
            self.x_control_failure = "generic_timeout_error"  # the run ended first
        test_keys: JsonObject = {
            "agent": "redirect",
            "failed_operation": None,
            "failure": self.error,
            "network_events": [],
            "queries": rec.entries["queries"],
            "requests": rec.entries["requests"],
            "tcp_connect": rec.entries["tcp_connect"],
            "tls_handshakes": rec.entries["tls_handshakes"],
            **keys,
            "x_control": self.x_control,
            "x_control_failure": self.x_control_failure,
        }
        m = envelope(
            rec=rec,
            test_name=self.exp.test_name,
            test_version=self.exp.test_version,
            probe_cc=config.probe_cc,
            probe_asn=config.probe_asn,
            probe_network_name=config.probe_network_name or None,
            test_start=test_start,
            runtime=self.runtime if self.runtime is not None else rec.now(),
            test_keys=test_keys,
            routable=tuple(config.routable),
        )
        m["input"] = self.exp.input
        return m


async def run_async(
    config: ProbeConfig,
    apps: list[str] | None = None,
    *,
    on_progress: Progress | None = None,
    catalog: Catalog | None = None,
    plane: str = "signalling",
    tool: ToolSpec | None = None,
) -> list[JsonObject]:
    """The measurements of one run, one per app, in the order of ``apps``.

    ``plane="media"`` makes the call-plane measurements (``voipwatch_call``: one
    per app, then ``generic``); ``"all"`` makes the signalling ones, then those.
    With ``tool``, the same tests also run through it, at the same time, and each
    measurement carries that run in ``x_via`` (see :mod:`voipwatch.probe.via`).
    """
    ids = resolve_apps(apps, plane)
    cat = catalog or load()
    # getaddrinfo blocks a thread; its own pool is dropped at the end without
    # waiting, so a hung system resolver cannot hold the run past its bound.
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="voipwatch-getaddrinfo")
    test_start = datetime.now(UTC)
    bound = config.timeouts.run
    h = config.helper
    if plane in ("media", "all") and h.residual and h.address:
        # The residual check waits for the block to lift: the run may take that long.
        bound += h.residual_wait + residual.OVERHEAD
    env = Env.make(config, executor)
    tests = [_Test(e, env) for e in _experiments(ids, cat, config, plane)]
    through: list[_Test] = []
    route: ViaRoute | None = None
    if tool is not None:
        route = ViaRoute(tool, config.timeouts.connect)
        vcfg = via.config_for(config)
        # Its own Env: the tool's tests get their own concurrency slots, so the
        # direct run is not slowed by waiting on them.
        venv = Env.make(vcfg, executor, route)
        through = [_Test(e, venv) for e in _experiments(ids, cat, vcfg, plane)]
    total = len(tests) + len(through)
    done = 0
    tool_check: JsonObject = {}

    async def one(t: _Test) -> None:
        nonlocal done
        await t.run()
        done += 1
        if on_progress is not None:
            on_progress(done, total, t.exp.test_name)

    async def start_tool(r: ViaRoute, tg: asyncio.TaskGroup) -> None:
        nonlocal tool_check
        if any(isinstance(t.exp, CallGeneric) for t in tests):
            await env.quiet.wait()
        # The UDP relay is asked for before the tests that need it start; the
        # direct tests do not wait for it.
        await r.start()
        for t in through:
            tg.create_task(one(t))
        tool_check = await via.check(r, config)

    try:
        async with asyncio.timeout(bound), asyncio.TaskGroup() as tg:
            for t in tests:
                tg.create_task(one(t))
            if route is not None:
                tg.create_task(start_tool(route, tg))
    except TimeoutError:
        pass  # every unfinished operation is closed as a timeout below
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    out = [t.measurement(config, test_start) for t in tests]
    if route is not None:
        for d, t in zip(out, through, strict=True):
            via.attach(d, t.measurement(t.ctx.env.config, test_start), route, tool_check)
    return out


def _experiments(ids: list[str], cat: Catalog, config: ProbeConfig, plane: str) -> list[Experiment]:
    exps: list[Experiment] = []
    if plane in ("signalling", "all"):
        exps += [make(a, cat, config) for a in ids if a in APPS]
    if plane in ("media", "all"):
        shared = Shared()
        calls = [a for a in [*ids, GENERIC] if a in (*CALL_APPS, GENERIC)]
        exps += [make_call(a, cat, config, shared) for a in calls]
    return exps


def run(
    config: ProbeConfig,
    apps: list[str] | None = None,
    *,
    on_progress: Progress | None = None,
    catalog: Catalog | None = None,
    plane: str = "signalling",
    tool: ToolSpec | None = None,
) -> list[JsonObject]:
    """Measure ``apps`` (default: all) on this network; OONI-format measurements.

    ``catalog`` replaces the shipped catalogue (tests, simulations); ``plane`` is
    ``signalling``, ``media`` or ``all``; ``tool`` also runs them through a
    circumvention tool (``x_via``).
    """
    return asyncio.run(
        run_async(config, apps, on_progress=on_progress, catalog=catalog, plane=plane, tool=tool)
    )
