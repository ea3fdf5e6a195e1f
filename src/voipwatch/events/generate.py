"""``voipwatch generate``: a labelled synthetic world of OONI-format measurements.

From a seed, :func:`generate_world` writes the raw measurements a population of
probes would upload — OONI's four IM tests and voipwatch's ``voipwatch_call`` — for
every network of the world, hour by hour, with the daily and weekly rhythm of real
volunteers, background noise (random failures, flaky networks, short outages, runs
the pipeline must discard), target changes that hit every country at once, and the
injected blocks and shutdowns; and, beside them, ``labels.json``: the ground truth in
OONI's event-label shape (:mod:`voipwatch.events.labels`).

Files follow OONI's per-test, per-country, per-day layout under ``raw/``
(``raw/<test>/<CC>/<YYYYMMDD>/<YYYYMMDD>_<CC>_<test>.jsonl.gz``), one measurement a
line, in time order; ``voipwatch ingest OUT/raw`` loads them. The same seed and
options give byte-identical files.
"""

from __future__ import annotations

import gzip
import math
import random
import shutil
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from voipwatch.catalog import Catalog
from voipwatch.events.generate_calls import voipwatch_call
from voipwatch.events.generate_keys import (
    CALL_INPUTS,
    IM_BUILDERS,
    MECHANISMS,
    TEST_ROLES,
    TEST_VERSIONS,
    Fault,
    effective,
)
from voipwatch.events.labels import world_labels, write_labels
from voipwatch.events.world import (
    CALL_SHARE,
    IM_TESTS,
    Injected,
    Network,
    Plan,
    build_networks,
    plan_world,
)

#: Defaults: the acceptance world of issue 5.
WEEKS, COUNTRIES, NETWORKS, EVENTS = 8, 6, 20, 64
DEFAULT_START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
#: A measurement the pipeline must discard (probe bug, interrupted run).
UNUSABLE = 0.003
_ALNUM = string.ascii_letters + string.digits

#: The random failure a flaky network shows, per test (input): one role, one way.
NOISE: dict[str, list[dict[str, Fault]]] = {
    "whatsapp": [{"whatsapp/endpoints": Fault("ip.blocked", partial=True)},
                 {"whatsapp/registration": Fault("tls.timeout")}],
    "telegram": [{"telegram/dc": Fault("ip.blocked", partial=True)}],
    "signal": [{"signal/chat": Fault("tls.timeout")}, {"signal/storage": Fault("tcp.timeout")},
               {"signal/sfu": Fault("tls.timeout")}],
    "facebook_messenger": [{"messenger/cdn": Fault("tcp.timeout")},
                           {"messenger/edge": Fault("tcp.timeout")}],
    "call:whatsapp": [{"whatsapp/relay": Fault("udp.port")}],
    "call:signal": [{"signal/turn": Fault("ip.blocked")}],
    "call:generic": [{"sip/signalling": Fault("sip.port", partial=True)}],
}  # fmt: skip
#: A short outage upstream of a network: every connection of the IM tests times out.
OUTAGE: dict[str, dict[str, Fault]] = {
    "whatsapp": {"whatsapp/endpoints": Fault("ip.blocked"),
                 "whatsapp/registration": Fault("tcp.timeout"),
                 "whatsapp/web": Fault("tcp.timeout")},
    "telegram": {"telegram/dc": Fault("ip.blocked")},
    "signal": {r: Fault("tcp.timeout") for r in TEST_ROLES["signal"]},
    "facebook_messenger": {r: Fault("tcp.timeout") for r in TEST_ROLES["facebook_messenger"]
                           if r != "messenger/stun"},
}  # fmt: skip
#: The chance of a random failure on a network's bad day (``Plan.flaky``).
FLAKY_NOISE = 0.2
#: What a shutdown leaves of a network's volume (a few measurements from satellite links).
SHUTDOWN_LEFT = 0.03

_OONI_EXTENSIONS = {"dnst": 0, "httpt": 0, "netevents": 0, "tcpconnect": 0, "tlshandshake": 0,
                    "tunnel": 0}  # fmt: skip
_SOFTWARE = [
    ("ooniprobe-android", "3.9.1", "android"),
    ("ooniprobe-android", "3.9.0", "android"),
    ("ooniprobe-ios", "3.9.0", "ios"),
    ("ooniprobe-desktop", "3.9.0", "macos"),
    ("ooniprobe-desktop", "3.9.0", "windows"),
    ("ooniprobe-cli", "3.22.0", "linux"),
]


@dataclass
class WorldSummary:
    """What :func:`generate_world` wrote."""

    out: Path
    seed: int
    start: datetime
    end: datetime
    countries: list[str]
    networks: int
    measurements: int
    files: int
    labels: int
    labels_by_kind: dict[str, int] = field(default_factory=dict)
    measurements_by_test: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "seed": self.seed,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "countries": self.countries,
            "networks": self.networks,
            "measurements": self.measurements,
            "files": self.files,
            "labels": self.labels,
            "labels_by_kind": self.labels_by_kind,
            "measurements_by_test": self.measurements_by_test,
        }


@dataclass(frozen=True)
class Generated:
    """One measurement, with the verdict it was built to get (for tests)."""

    test: str
    call_input: str | None
    cc: str
    asn: int
    when: datetime
    raw: bytes
    #: role → (status, technique) for every faulted role; other roles are ``ok``.
    expected: dict[str, tuple[str, str]]
    unusable: bool


def expected_roles(test: str, faults: dict[str, Fault]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for role, f in effective(test, faults).items():
        out[role] = MECHANISMS[(test, role, f.technique, f.partial)]
    return out


def _diurnal(local_hour: float) -> float:
    """Volunteers measure by day: a peak mid-afternoon, a trough before dawn."""
    return 1.0 + 0.7 * math.sin(2 * math.pi * (local_hour - 9.0) / 24.0)


class _Writer:
    def __init__(self, plan: Plan, seed: int) -> None:
        self.plan = plan
        self.rng = random.Random(seed * 1_000_003 + 7)
        self.np = np.random.default_rng(seed)
        self.by_asn: dict[int, list[Injected]] = {}
        self.changes: list[Injected] = []
        self.shutdowns: dict[int, list[Injected]] = {}
        for x in plan.injected:
            if x.kind == "target_change":
                if x.cc == plan.networks[0].cc:
                    self.changes.append(x)
            elif x.kind == "shutdown":
                self.shutdowns.setdefault(x.asns[0], []).append(x)
            else:
                for a in x.asns:
                    self.by_asn.setdefault(a, []).append(x)
        self.outages: dict[int, list[tuple[datetime, datetime]]] = {}
        for asn, s, e in plan.outages:
            self.outages.setdefault(asn, []).append((s, e))
        self.flaky: dict[int, list[tuple[datetime, datetime]]] = {}
        for asn, s, e in plan.flaky:
            self.flaky.setdefault(asn, []).append((s, e))
        self.hits: dict[str, int] = {}  # label → faulted measurements in its first 48 h

    def _pick(self, n: int, k: int) -> list[int]:
        return self.rng.sample(range(n), k)

    def _report_id(self, when: datetime, test: str, cc: str, asn: int) -> str:
        rand = "".join(self.rng.choices(_ALNUM, k=16))
        return f"{when:%Y%m%dT%H%M%SZ}_{test.replace('_', '')}_{cc}_{asn}_n1_{rand}"

    def faults_at(
        self, net: Network, test: str, call_input: str | None, when: datetime
    ) -> tuple[dict[str, Fault], bool]:
        """The faults a measurement at ``when`` sees, and whether an outage made them."""
        for s, e in self.outages.get(net.asn, ()):
            if s <= when < e and test in OUTAGE:
                return dict(OUTAGE[test]), True
        faults: dict[str, Fault] = {}
        for x in self.changes:
            if x.test == test and when >= x.onset:
                faults.update(x.faults)
        for x in self.by_asn.get(net.asn, ()):
            if x.test != test or x.call_input != call_input or when < x.onset:
                continue
            if x.end is not None and when >= x.end:
                continue
            if self.rng.random() >= x.share:
                continue
            faults.update(x.faults)
            if when - x.onset < timedelta(hours=48):
                self.hits[x.label_id] = self.hits.get(x.label_id, 0) + 1
        noise = net.noise
        if any(s <= when < e for s, e in self.flaky.get(net.asn, ())):
            noise = FLAKY_NOISE
        if self.rng.random() < noise:
            key = test if call_input is None else f"call:{call_input}"
            for role, f in self.rng.choice(NOISE[key]).items():
                faults.setdefault(role, f)
        return faults, False

    def measurement(
        self, net: Network, test: str, call_input: str | None, when: datetime
    ) -> Generated:
        faults, _ = self.faults_at(net, test, call_input, when)
        if call_input is not None:
            keys = voipwatch_call(call_input, faults)
        else:
            keys = IM_BUILDERS[test](faults, self._pick, net.asn)
        unusable = (
            call_input is None and test != "facebook_messenger" and (self.rng.random() < UNUSABLE)
        )
        if unusable:
            if test == "whatsapp":
                keys["requests"] = []
                keys["failure"] = "unknown_failure: interrupted"
            elif test == "telegram":
                keys["requests"] = [*keys["requests"], {"failure": None, "request": None}]
            else:
                keys["failed_operation"] = "top_level"
                keys["failure"] = "generic_timeout_error"
        runtime = round(self.rng.lognormvariate(0.0, 0.5), 6)
        stamp = f"{when:%Y-%m-%d %H:%M:%S}"
        if call_input is not None:
            msmt: dict[str, Any] = {
                "annotations": {"engine_name": "voipwatch", "engine_version": "0.1.0",
                                "platform": "linux"},
                "data_format_version": "0.2.0",
                "extensions": {"dnst": 0, "httpt": 0, "tcpconnect": 0, "tlshandshake": 0},
                "input": call_input,
            }  # fmt: skip
            software, version = "voipwatch", "0.1.0"
        else:
            software, version, platform = self.rng.choice(_SOFTWARE)
            phone = platform in ("android", "ios")
            msmt = {
                "annotations": {
                    "architecture": "arm64" if phone or platform == "macos" else "amd64",
                    "engine_name": "ooniprobe-engine",
                    "engine_version": "3.22.0",
                    "network_type": "mobile" if phone else "wifi",
                    "platform": platform,
                },
                "data_format_version": "0.2.0",
                "extensions": _OONI_EXTENSIONS,
                "input": None,
            }
        msmt.update(
            {
                "measurement_start_time": stamp,
                "probe_asn": f"AS{net.asn}",
                "probe_cc": net.cc,
                "probe_ip": "127.0.0.1",
                "probe_network_name": net.name,
                "report_id": self._report_id(when, test, net.cc, net.asn),
                "resolver_asn": f"AS{net.asn}",
                "resolver_ip": f"{net.asn % 200 + 20}.{(net.asn >> 8) % 256}.{net.asn % 256}.53",
                "resolver_network_name": net.name,
                "software_name": software,
                "software_version": version,
                "test_keys": keys,
                "test_name": test,
                "test_runtime": runtime,
                "test_start_time": f"{when - timedelta(seconds=2):%Y-%m-%d %H:%M:%S}",
                "test_version": TEST_VERSIONS[test],
            }
        )
        expected = {} if unusable else expected_roles(test, faults)
        return Generated(
            test, call_input, net.cc, net.asn, when, orjson.dumps(msmt), expected, unusable
        )

    def day(self, d: int) -> Iterator[Generated]:
        """Every measurement of day ``d``, network by network, hour by hour."""
        base = self.plan.start + timedelta(days=d)
        weekly = 0.8 if base.weekday() >= 5 else 1.0
        series: list[tuple[str, str | None, float]] = [(t, None, 1.0) for t in IM_TESTS]
        series += [("voipwatch_call", i, CALL_SHARE) for i in CALL_INPUTS]
        for net in self.plan.networks:
            shut = self.shutdowns.get(net.asn, [])
            for h in range(24):
                hour = base + timedelta(hours=h)
                factor = weekly * _diurnal((h + net.utc_offset) % 24)
                if any(x.onset <= hour < (x.end or hour + timedelta(1)) for x in shut):
                    factor *= SHUTDOWN_LEFT
                lam = [net.rate / 24.0 * factor * share for _, _, share in series]
                counts = self.np.poisson(lam)
                for (test, call_input, _), n in zip(series, counts, strict=True):
                    if n == 0:
                        continue
                    secs = sorted(self.rng.randrange(3600) for _ in range(int(n)))
                    for s in secs:
                        yield self.measurement(net, test, call_input, hour + timedelta(seconds=s))


def plan_for(
    seed: int,
    *,
    weeks: int = WEEKS,
    countries: int = COUNTRIES,
    networks: int = NETWORKS,
    events: int = EVENTS,
    start: datetime = DEFAULT_START,
) -> Plan:
    rng = random.Random(seed)
    nets = build_networks(rng, countries, networks)
    return plan_world(rng, start=start, weeks=weeks, networks=nets, events=events)


def iter_world(plan: Plan, seed: int) -> Iterator[Generated]:
    """Every measurement of the world in day order (the writer's order)."""
    w = _Writer(plan, seed)
    for d in range(plan.days):
        yield from w.day(d)


def generate_world(
    seed: int,
    out: Path,
    *,
    catalog: Catalog,
    weeks: int = WEEKS,
    countries: int = COUNTRIES,
    networks: int = NETWORKS,
    events: int = EVENTS,
    start: datetime = DEFAULT_START,
) -> WorldSummary:
    """Write a world's measurements under ``out`` and its labels to ``out/labels.json``
    (the labels name the targets and planes of ``catalog``'s roles).

    Raises ``ValueError`` for options no world can satisfy (too few weeks, more
    networks than the countries have) and ``FileExistsError`` when ``out/raw`` holds
    something that is not a generated world. A world written again over an older one
    replaces it.
    """
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    plan = plan_for(
        seed, weeks=weeks, countries=countries, networks=networks, events=events, start=start
    )
    raw = out / "raw"
    if raw.exists() and not (out / "labels.json").exists():
        raise FileExistsError(
            f"{raw} exists and is not a generated world (no labels.json beside it): "
            "choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    # Written aside, then put in place: an interrupted run leaves no half world, and a
    # world written again over an older one keeps none of its files.
    partial = out / "raw.partial"
    shutil.rmtree(partial, ignore_errors=True)
    w = _Writer(plan, seed)
    total = 0
    files = 0
    by_test: dict[str, int] = {}
    for d in range(plan.days):
        day = plan.start + timedelta(days=d)
        lines: dict[tuple[str, str], list[tuple[datetime, bytes]]] = {}
        for g in w.day(d):
            lines.setdefault((g.test, g.cc), []).append((g.when, g.raw))
            by_test[g.test] = by_test.get(g.test, 0) + 1
        for (test, cc), rows in sorted(lines.items()):
            rows.sort(key=lambda r: r[0])
            folder = partial / test / cc / f"{day:%Y%m%d}"
            folder.mkdir(parents=True, exist_ok=True)
            data = b"\n".join(r for _, r in rows) + b"\n"
            # mtime=0: the same world is byte-identical however often it is written.
            target = folder / f"{day:%Y%m%d}_{cc}_{test}.jsonl.gz"
            target.write_bytes(gzip.compress(data, compresslevel=3, mtime=0))
            files += 1
            total += len(rows)
    labels = world_labels(plan, seed, w.hits, catalog)
    (out / "labels.json").unlink(missing_ok=True)
    shutil.rmtree(raw, ignore_errors=True)
    partial.rename(raw)
    write_labels(out / "labels.json", labels)
    kinds: dict[str, int] = {}
    for x in plan.injected:
        kinds[x.kind] = kinds.get(x.kind, 0) + 1
    return WorldSummary(
        out=out,
        seed=seed,
        start=plan.start,
        end=plan.start + timedelta(days=plan.days),
        countries=sorted({n.cc for n in plan.networks}),
        networks=len(plan.networks),
        measurements=total,
        files=files,
        labels=len(plan.injected),
        labels_by_kind=kinds,
        measurements_by_test=dict(sorted(by_test.items())),
    )
