"""A second kind of synthetic world, written from its labels: the detector's exam.

``voipwatch generate`` builds measurements from its own fault model. A detector tuned
on those worlds may have learned that model instead of censorship, so this module
writes worlds the other way round and shares none of that code: it first draws the
ground truth — blocks of every size, length and technique, global target changes and
outages of an app, single-network outages, flaky networks, shutdowns, throttles — as
labels in OONI's shape, then renders each measurement by copying a recorded
measurement that shows the state the labels call for (an ``ok`` run, or one showing
the technique) and giving it the time, country and network it stands for: real OONI
measurements for the IM tests, and for the call test's throughput A/B our own probe's,
recorded in the simulator through a real kernel shaper. The templates are passed in
(the project's committed fixtures, each with the verdict its MANIFEST states), so
what a measurement says is what a real probe once said.

The world is small on purpose (3–8 countries, a few networks each, eight weeks) and
holds what a detector tuned on ``generate`` worlds has not seen: few countries for a
global change, flaky networks, outages of the app everywhere at once.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import msgspec

from voipwatch.events.labels import Label, iso

__all__ = ["CALL", "FAULTS", "VARIANTS", "LabelWorld", "Variant", "plan_world", "write_world"]


@dataclass(frozen=True, slots=True)
class Variant:
    """A state a test's measurement can show: its template and what it means."""

    test: str
    template: str
    service: str
    roles: tuple[str, ...] = ()
    mechanisms: tuple[str, ...] = ()
    plane: str = ""


#: Every state a measurement may show, by "<service>/<state>". Roles and mechanisms are
#: those the template's MANIFEST entry states.
VARIANTS: Final = {
    "whatsapp/ok": Variant("whatsapp", "whatsapp-ok.json", "whatsapp"),
    "whatsapp/ip": Variant(
        "whatsapp",
        "modified-whatsapp-ip-blocked-registration-reset.json",
        "whatsapp",
        ("whatsapp/endpoints", "whatsapp/registration"),
        ("ip.blocked", "tls.reset"),
        "signalling",
    ),
    "telegram/ok": Variant("telegram", "telegram-ok.json", "telegram"),
    "telegram/ip": Variant(
        "telegram",
        "modified-telegram-dc-partial.json",
        "telegram",
        ("telegram/dc",),
        ("ip.blocked",),
        "signalling",
    ),
    "signal/ok": Variant("signal", "signal-ok.json", "signal"),
    "signal/sni": Variant(
        "signal",
        "modified-signal-sfu-tls-reset.json",
        "signal",
        ("signal/sfu",),
        ("tls.reset",),
        "media",
    ),
    "signal/dns": Variant(
        "signal",
        "modified-signal-dns-bogon.json",
        "signal",
        ("signal/chat",),
        ("dns.bogon",),
        "signalling",
    ),
    "messenger/ok": Variant("facebook_messenger", "messenger-ok-legacy-keys.json", "messenger"),
    "messenger/dns": Variant(
        "facebook_messenger",
        "modified-messenger-dns-inconsistent.json",
        "messenger",
        ("messenger/api",),
        ("dns.inconsistent",),
        "signalling",
    ),
    # Our own call test's throughput A/B, recorded through a real shaper: the same
    # download naming WhatsApp's web host and a harmless name.
    "call/ok": Variant("voipwatch_call", "voipwatch-call-throughput-ok.json", "whatsapp"),
    "call/throttled": Variant(
        "voipwatch_call",
        "voipwatch-call-throughput-throttled.json",
        "whatsapp",
        ("whatsapp/web",),
        ("throttle.policed",),
        "throughput",
    ),
}
#: The states that are blocking, by service: what a block (or noise) may show.
FAULTS: Final = {
    "whatsapp": ("whatsapp/ip",),
    "telegram": ("telegram/ip",),
    "signal": ("signal/sni", "signal/dns"),
    "messenger": ("messenger/dns",),
}
#: The call test's states: it runs on fewer phones (:data:`CALL_SHARE` of a test's
#: volume) and shows a throttle, or noise, as a slow download.
CALL: Final = ("call/ok", "call/throttled")
CALL_SHARE: Final = 0.25
#: Throttles a world holds: one on a network, one nationwide.
THROTTLES: Final = ("single", "national")
_COUNTRIES: Final = ("BR", "IN", "IR", "KZ", "NG", "PK", "RU", "TR", "VN", "EG")
#: Measurements per test per day a network's volunteers send, by volume class.
_RATES: Final = {"busy": 96.0, "medium": 30.0, "sparse": 8.0}
#: Share of any network's measurements that fail like a block without one (OONI noise).
_NOISE: Final = 0.008
_LEAD_DAYS: Final = 15
#: A block seen by fewer measurements in its first two days is ``no_coverage``: at
#: real data's noise, a handful of failures is not evidence any detector could use.
MIN_SEEN: Final = 6


@dataclass(frozen=True, slots=True)
class Net:
    cc: str
    asn: int
    name: str
    volume: str

    @property
    def rate(self) -> float:
        return _RATES[self.volume]


@dataclass(slots=True)
class Spell:
    """Something the world holds from ``start`` to ``end`` (None: to the world's end).

    ``kind``: ``block``, ``throttling`` (the call test's downloads naming the app run
    slow), ``target_change`` and ``outage`` (an app's, everywhere: the
    labels' false_positive_event rows), ``shutdown`` (a network stops measuring),
    ``net_outage`` (a network fails every test for hours) or ``flaky`` (a network fails
    at random for days); the last two are noise, listed but not labelled.
    """

    ident: str
    kind: str
    nets: tuple[Net, ...]
    start: datetime
    end: datetime | None
    variant: str = ""
    share: float = 1.0
    national: bool = False
    hits: int = 0  # measurements it reached in its first 48 h

    def covers(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass
class LabelWorld:
    seed: int
    start: datetime
    days: int
    nets: list[Net]
    spells: list[Spell] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


def plan_world(
    seed: int, countries: int, *, weeks: int = 8, blocks: int = 22, start: datetime | None = None
) -> LabelWorld:
    """The ground truth of a world of ``countries`` (3–8) countries: networks and spells."""
    if not 3 <= countries <= 8:
        raise ValueError(f"countries: {countries} is not between 3 and 8")
    if weeks < 4:
        raise ValueError(f"weeks: {weeks} leaves no quiet lead-in before the blocks (4 or more)")
    rng = random.Random(seed)
    begin = start or datetime(2026, 3, 2, tzinfo=UTC)
    world = LabelWorld(seed, begin, weeks * 7, [])
    for cc in rng.sample(_COUNTRIES, countries):
        for k in range(rng.choice((2, 3, 3, 4))):
            volume = ("busy", "medium", "sparse")[min(k, 2)] if k < 3 else "medium"
            asn = rng.randrange(10_000, 60_000)
            world.nets.append(Net(cc, asn, f"{cc} Telecom {k + 1}", volume))
    by_cc: dict[str, list[Net]] = defaultdict(list)
    for n in world.nets:
        by_cc[n.cc].append(n)
    hour = timedelta(hours=1)

    def when(lo_day: float, hi_day: float) -> datetime:
        return begin + timedelta(hours=rng.randrange(int(lo_day * 24), int(hi_day * 24)))

    # The app's own changes, everywhere at once.
    # Late enough that blocks of the same role fit before it.
    change_at = when(world.days - 16, world.days - 10)
    world.spells.append(
        Spell(
            "change-signal-sfu",
            "target_change",
            tuple(world.nets),
            change_at,
            None,
            "signal/sni",
            0.97,
            True,
        )
    )
    outage_at = when(_LEAD_DAYS + 2, world.days - 5)
    world.spells.append(
        Spell(
            "outage-whatsapp",
            "outage",
            tuple(world.nets),
            outage_at,
            outage_at + 10 * hour,
            "whatsapp/ip",
            0.95,
            True,
        )
    )
    quiet = [("signal/sni", change_at, None), ("whatsapp/ip", outage_at, outage_at + 10 * hour)]
    # Noise: a network's bad hours and a flaky network's bad days; one shutdown.
    for i in range(max(2, countries // 2)):
        net = rng.choice(world.nets)
        at = when(3, world.days - 1)
        world.spells.append(
            Spell(f"net-outage-{i}", "net_outage", (net,), at, at + rng.randint(3, 8) * hour)
        )
    for i, net in enumerate(rng.sample(world.nets, 2)):
        at = when(2, world.days - 10)
        world.spells.append(
            Spell(
                f"flaky-{i}",
                "flaky",
                (net,),
                at,
                at + timedelta(days=rng.randint(4, 9)),
                share=rng.uniform(0.05, 0.1),
            )
        )
    busy = [n for n in world.nets if n.volume != "sparse"]
    net = rng.choice(busy)
    at = when(_LEAD_DAYS, world.days - 4).replace(hour=rng.choice((2, 4, 6)))
    world.spells.append(
        Spell("shutdown-0", "shutdown", (net,), at, at + timedelta(hours=rng.randint(30, 60)))
    )
    # Blocks: national, several networks, one network; short and long; every technique.
    bands = ["single"] * 8 + ["multi"] * 5 + ["national"] * (blocks - 13)
    rng.shuffle(bands)
    tries = 0
    while sum(s.kind == "block" for s in world.spells) < blocks and tries < 5000:
        tries += 1
        band = bands[sum(s.kind == "block" for s in world.spells) % len(bands)]
        cc = rng.choice(sorted(by_cc))
        nets = by_cc[cc]
        if band == "multi" and len(nets) < 3:
            continue
        if band == "national":
            chosen = list(nets)
        elif band == "multi":
            chosen = rng.sample(nets, rng.randint(2, len(nets) - 1))
        else:
            chosen = [rng.choice(nets)]
        # The technique with the fewest blocks yet, so each world holds each of them.
        faults = [v for service in sorted(FAULTS) for v in FAULTS[service]]
        drawn = Counter(s.variant for s in world.spells if s.kind == "block")
        variant = min(faults, key=lambda v: (drawn[v], (faults.index(v) + tries) % len(faults)))
        onset = when(_LEAD_DAYS, world.days - 1.5)
        r = rng.random()
        if r < 0.4:
            end: datetime | None = onset + timedelta(hours=rng.randint(8, 36))
        elif r < 0.85:
            end = onset + timedelta(days=rng.uniform(3, 20))
        else:
            end = None
        if end is not None and end >= world.end:
            end = None
        if _clashes(world, chosen, variant, onset, end, quiet):
            continue
        world.spells.append(
            Spell(
                f"block-{len(world.spells)}",
                "block",
                tuple(chosen),
                onset,
                end,
                variant,
                rng.uniform(0.85, 1.0),
                band == "national",
            )
        )
    _add_throttles(world, by_cc, rng)
    return world


def _add_throttles(world: LabelWorld, by_cc: dict[str, list[Net]], rng: random.Random) -> None:
    """Throttles of WhatsApp's web host, days long, on networks measured enough by the
    call test to see them; drawn after everything else, so the rest of a seed's world
    is what it was before throttles existed."""
    for k, band in enumerate(THROTTLES):
        for _ in range(500):
            cc = rng.choice(sorted(by_cc))
            measured = [n for n in by_cc[cc] if n.volume != "sparse"]
            nets = list(by_cc[cc]) if band == "national" else [rng.choice(measured)]
            onset = world.start + timedelta(
                hours=rng.randrange(_LEAD_DAYS * 24, (world.days - 5) * 24)
            )
            end: datetime | None = onset + timedelta(days=rng.uniform(2, 10))
            if end is not None and end >= world.end:
                end = None
            mine = {n.asn for n in nets}
            stop = end or world.end
            margin = timedelta(days=3)
            if any(
                s.kind in ("throttling", "shutdown")
                and mine & {n.asn for n in s.nets}
                and onset < (s.end or world.end) + margin
                and s.start - margin < stop
                for s in world.spells
            ):
                continue
            world.spells.append(
                Spell(
                    f"throttle-{k}",
                    "throttling",
                    tuple(nets),
                    onset,
                    end,
                    "call/throttled",
                    rng.uniform(0.85, 1.0),
                    band == "national",
                )
            )
            break


def _clashes(
    world: LabelWorld,
    nets: list[Net],
    state: str,
    onset: datetime,
    end: datetime | None,
    quiet: list[tuple[str, datetime, datetime | None]],
) -> bool:
    """Whether a block would overlap (with a 3-day margin) another of its series, a
    global change of its app's role, or a shutdown or outage of its networks."""
    service = VARIANTS[state].service
    margin = timedelta(days=3)
    stop = end or world.end
    # One measurement shows one state: a block of an app during its global change
    # would never be seen, so none is drawn there.
    for variant, a, b in quiet:
        same = VARIANTS[variant].service == service
        if same and onset < (b or world.end) + margin and a - margin < stop:
            return True
    mine = {n.asn for n in nets}
    for s in world.spells:
        if not mine & {n.asn for n in s.nets}:
            continue
        if s.kind == "block" and VARIANTS[s.variant].service != service:
            continue
        if s.kind in ("flaky", "target_change", "outage", "throttling"):
            continue
        s_end = s.end or world.end
        if onset < s_end + margin and s.start - margin < stop:
            return True
    return False


def _diurnal(h: int) -> float:
    """Volunteers measure in the day: about a fifth of the midday rate at 04:00."""
    return 0.6 + 0.5 * math.sin((h - 9) / 24 * 2 * math.pi)


def _measurements(
    world: LabelWorld,
    templates: Mapping[str, bytes],
    rng: random.Random,
    call_rng: random.Random,
) -> Iterator[tuple[str, str, bytes]]:
    """(test, country, JSON line) of every measurement, in time order per network.

    The call test draws from ``call_rng``: the IM tests' measurements stay the same
    whether or not a world holds it."""
    bodies = _bodies(templates)
    spells_of: dict[int, list[Spell]] = defaultdict(list)
    for s in world.spells:
        for n in s.nets:
            spells_of[n.asn].append(s)
    services = sorted(FAULTS)
    for net in world.nets:
        mine = spells_of[net.asn]
        for h in range(world.days * 24):
            t = world.start + timedelta(hours=h)
            active = [s for s in mine if s.covers(t)]
            if any(s.kind == "shutdown" for s in active) and rng.random() > 0.03:
                continue
            lam = net.rate / 24 * _diurnal(t.hour) * (0.85 if t.weekday() >= 5 else 1.0)
            for service in services:
                for _ in range(_poisson(rng, lam)):
                    at = t + timedelta(seconds=rng.randrange(3600))
                    state = _state(service, active, rng)
                    for s in active:
                        if s.variant == state and at < s.start + timedelta(hours=48):
                            s.hits += 1
                    yield _render(VARIANTS[state], bodies, net, at, rng)
            for _ in range(_poisson(call_rng, lam * CALL_SHARE)):
                at = t + timedelta(seconds=call_rng.randrange(3600))
                call = _call_state(active, call_rng)
                if call is None:
                    continue
                for s in active:
                    if s.variant == call and at < s.start + timedelta(hours=48):
                        s.hits += 1
                yield _render(VARIANTS[call], bodies, net, at, call_rng)


def _stream(variant: str) -> str:
    """The measurements a state belongs to: ``signal/dns`` to Signal's test, ``call/…``
    to the call test."""
    return variant.split("/", 1)[0]


def _call_state(active: list[Spell], rng: random.Random) -> str | None:
    """What the call test's A/B shows: a throttle's slow download, noise, ok, or
    nothing when the network is down (the probe reaches no helper to upload to)."""
    if any(s.kind == "net_outage" for s in active):
        return None
    for s in active:
        if s.kind == "throttling" and rng.random() < s.share:
            return s.variant
    # A congested link slows a download too: the same noise as the other tests.
    noise = _NOISE + sum(s.share for s in active if s.kind == "flaky")
    return CALL[1] if rng.random() < noise else CALL[0]


def _state(service: str, active: list[Spell], rng: random.Random) -> str:
    """Which state this measurement shows: a spell's, noise, or ok."""
    for s in active:
        if s.kind == "net_outage":
            return rng.choice(FAULTS[service])
    for s in active:
        if s.variant and _stream(s.variant) == service and rng.random() < s.share:
            return s.variant
    noise = _NOISE + sum(s.share for s in active if s.kind == "flaky")
    if rng.random() < noise:
        return rng.choice(FAULTS[service])
    return f"{service}/ok"


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: rates here are a few per hour at most.
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


#: Fields each rendered measurement gets afresh; the rest is the template's.
_FRESH: Final = (
    "measurement_start_time", "test_start_time", "probe_cc", "probe_asn",
    "probe_network_name", "report_id", "id", "bucket_date", "report_filename",
)  # fmt: skip


def _bodies(templates: Mapping[str, bytes]) -> dict[str, tuple[str, bool]]:
    """Each template as JSON text without its fresh fields (and whether it had an id)."""
    out = {}
    for name, raw in templates.items():
        msmt = json.loads(raw)
        rest = {k: v for k, v in msmt.items() if k not in _FRESH}
        out[name] = (json.dumps(rest, separators=(",", ":")), "id" in msmt)
    return out


def _render(
    v: Variant, bodies: Mapping[str, tuple[str, bool]], net: Net, at: datetime, rng: random.Random
) -> tuple[str, str, bytes]:
    body, has_id = bodies[v.template]
    fresh: dict[str, str] = {
        "measurement_start_time": at.strftime("%Y-%m-%d %H:%M:%S"),
        "test_start_time": (at - timedelta(seconds=3)).strftime("%Y-%m-%d %H:%M:%S"),
        "probe_cc": net.cc,
        "probe_asn": f"AS{net.asn}",
        "probe_network_name": net.name,
        "report_id": f"{at:%Y%m%dT%H%M%SZ}_{v.test}_{net.cc}_{net.asn}_n1_"
        f"{rng.getrandbits(160):040x}",
    }
    if has_id:
        fresh["id"] = f"{rng.getrandbits(128):032x}"
    head = json.dumps(fresh, separators=(",", ":"))
    return v.test, net.cc, (head[:-1] + "," + body[1:]).encode()


def write_world(world: LabelWorld, templates: Mapping[str, bytes], out: Path) -> dict[str, Any]:
    """Write ``out/raw/<test>_<cc>.jsonl.gz`` and ``out/labels.json``; returns counts."""
    rng = random.Random(world.seed * 7919 + 1)
    call_rng = random.Random(world.seed * 7919 + 2)
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    count = 0
    with contextlib.ExitStack() as stack:
        files: dict[tuple[str, str], Any] = {}
        for test, cc, line in _measurements(world, templates, rng, call_rng):
            f = files.get((test, cc))
            if f is None:
                path = raw / f"{test}_{cc}.jsonl.gz"
                f = files[(test, cc)] = stack.enter_context(gzip.open(path, "wb"))
            f.write(line + b"\n")
            count += 1
    doc = labels(world)
    (out / "labels.json").write_bytes(msgspec.json.encode(doc) + b"\n")
    return {"measurements": count, "labels": len(doc["events"])}


def labels(world: LabelWorld) -> dict[str, Any]:
    """The ground truth in OONI's label shape (with voipwatch's fields)."""
    events: list[dict[str, Any]] = []
    Row = tuple[str, list[int], str, str, list[str], tuple[str, ...], str, str | None]
    for s in world.spells:
        if s.kind in ("net_outage", "flaky"):
            continue
        rows: list[Row]
        if s.kind == "shutdown":
            (net,) = s.nets
            rows = [(net.cc, [net.asn], "listed", "shutdown", ["shutdown"], (), "", None)]
        else:
            v = VARIANTS[s.variant]
            per_cc: dict[str, list[int]] = defaultdict(list)
            for n in s.nets:
                per_cc[n.cc].append(n.asn)
            rows = [
                (
                    cc,
                    sorted(asns),
                    "all" if s.national else "listed",
                    s.kind,
                    list(v.mechanisms),
                    v.roles,
                    v.plane,
                    v.service,
                )
                for cc, asns in sorted(per_cc.items())
            ]
        for cc, asns, scope, kind, mechanisms, roles, plane, service in rows:
            band = (
                "national"
                if scope == "all"
                else ("multi_network" if len(asns) > 1 else "single_network")
            )
            true = kind in ("block", "throttling", "shutdown")
            label = Label(
                event_id=f"{s.ident}-{cc}",
                title=f"{cc}: {kind} of {service or 'the network'} ({', '.join(mechanisms)})",
                probe_cc=cc,
                asn_scope=asns,
                asn_scope_kind=scope,
                target_set=list(roles),
                mechanisms=mechanisms,
                onset_earliest=iso(s.start),
                onset_latest=iso(s.start),
                resolution_earliest=iso(s.end),
                resolution_latest=iso(s.end),
                event_class="true_event" if true else "false_positive_event",
                scoreable="yes"
                if kind not in ("block", "throttling") or s.hits >= MIN_SEEN
                else "no_coverage",
                test_names=[VARIANTS[s.variant].test] if s.variant else [],
                adjudicator="voipwatch labelworld",
                rationale=f"written from the label side (seed {world.seed}); share {s.share:.2f}",
                kind=kind,
                service=service,
                roles=list(roles),
                plane=plane or None,
                size_band=band,
            )
            events.append(msgspec.to_builtins(label))
    return {
        "export_version": "1",
        "grain": "event",
        "adjudicator": "voipwatch labelworld",
        "note": "A world written from its labels, sharing no code with voipwatch generate. "
        "Target changes and outages of an app everywhere are false_positive_event rows; "
        "network outages and flaky networks are noise, listed under world.",
        "world": {
            "seed": world.seed,
            "start": iso(world.start),
            "end": iso(world.end),
            "networks": [
                {"asn": n.asn, "probe_cc": n.cc, "name": n.name, "volume": n.volume}
                for n in world.nets
            ],
            "outages": [
                {"asn": s.nets[0].asn, "start": iso(s.start), "end": iso(s.end)}
                for s in world.spells
                if s.kind == "net_outage"
            ],
            "flaky": [
                {"asn": s.nets[0].asn, "start": iso(s.start), "end": iso(s.end)}
                for s in world.spells
                if s.kind == "flaky"
            ],
        },
        "events": events,
    }
