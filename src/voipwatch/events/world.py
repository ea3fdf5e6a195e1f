"""The synthetic world's cast: countries, networks, and the events injected into it.

Pure planning (no I/O): from a seed, which networks exist with what volume and
noise, and which blocks, target changes and shutdowns happen when and where. The
measurements themselves are written by :mod:`voipwatch.events.generate`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from voipwatch.events.generate_keys import CALL_INPUTS, IMPLIED, MECHANISMS, Fault

#: Real networks (ASN, operator) in countries that have blocked messaging apps; the
#: UTC offset drives the daily rhythm of measurements.
COUNTRIES: dict[str, tuple[float, list[tuple[int, str]]]] = {
    "IR": (
        3.5,
        [
            (44244, "Irancell"),
            (197207, "MCCI"),
            (58224, "TCI"),
            (31549, "Shatel"),
            (16322, "Pars Online"),
        ],
    ),
    "RU": (
        3.0,
        [
            (12389, "Rostelecom"),
            (8359, "MTS"),
            (16345, "Beeline"),
            (31213, "MegaFon"),
            (25513, "MGTS"),
        ],
    ),
    "BR": (
        -3.0,
        [
            (28573, "Claro"),
            (26615, "TIM"),
            (18881, "Vivo"),
            (28343, "Unifique"),
            (8167, "Brasil Telecom"),
        ],
    ),
    "PK": (5.0, [(17557, "PTCL"), (9541, "Cybernet"), (45669, "Jazz"), (24499, "Telenor PK")]),
    "TG": (0.0, [(24691, "Togo Telecom"), (36924, "Canalbox"), (37229, "Moov Africa Togo")]),
    "ET": (3.0, [(24757, "Ethio Telecom"), (328988, "Safaricom Ethiopia")]),
    "GN": (0.0, [(37461, "Orange Guinee"), (37665, "MTN Guinee"), (37612, "Cellcom Guinee")]),
    "UG": (3.0, [(20294, "MTN Uganda"), (37063, "Airtel Uganda"), (37075, "Uganda Telecom")]),
    "VN": (7.0, [(7552, "Viettel"), (45899, "VNPT"), (18403, "FPT")]),
    "KE": (3.0, [(33771, "Safaricom"), (37061, "Airtel Kenya"), (36866, "Jamii Telecom")]),
}

#: IM measurements per test per day on a busy, medium and sparse network.
VOLUME = {"busy": 40.0, "medium": 12.0, "sparse": 3.0}
#: Our own call-plane test runs on fewer phones: this share of the IM volume, per input.
CALL_SHARE = 0.3
#: The throttle the throughput A/B sees, and the bands of the throttles a world holds.
THROTTLE = "throttle.policed"
THROTTLE_BANDS = ("single", "national")
IM_TESTS = ("whatsapp", "telegram", "signal", "facebook_messenger")


@dataclass(frozen=True)
class Network:
    asn: int
    cc: str
    name: str
    volume: str  # busy | medium | sparse
    rate: float  # IM measurements per test per day
    noise: float  # chance that a measurement shows a random failure
    utc_offset: float


@dataclass
class Injected:
    """One thing that happens in the world, and its ground-truth label."""

    label_id: str
    kind: str  # block | throttling | target_change | shutdown
    cc: str
    asns: list[int]
    national: bool
    test: str  # the test that sees it (voipwatch_call for the call plane; "" for shutdowns)
    call_input: str | None
    service: str
    faults: dict[str, Fault]
    onset: datetime
    end: datetime | None  # None: still going when the world ends
    share: float = 1.0  # of the measurements in scope that see the block
    duration: str = "medium"  # short | medium | long
    band: str = "single"  # national | multi | single
    mechanisms: list[str] = field(default_factory=list)


def service_of(role: str) -> str:
    s = role.split("/", 1)[0]
    return s


def build_networks(rng: random.Random, countries: int, networks: int) -> list[Network]:
    """``networks`` networks over the first ``countries`` countries (at least one each)."""
    if countries < 1 or countries > len(COUNTRIES):
        raise ValueError(f"countries must be 1..{len(COUNTRIES)}")
    ccs = list(COUNTRIES)[:countries]
    capacity = sum(len(COUNTRIES[c][1]) for c in ccs)
    if networks < countries or networks > capacity:
        raise ValueError(f"networks must be {countries}..{capacity} for {countries} countries")
    picked: dict[str, int] = {c: 1 for c in ccs}
    while sum(picked.values()) < networks:
        for c in ccs:
            if sum(picked.values()) < networks and picked[c] < len(COUNTRIES[c][1]):
                picked[c] += 1
    out: list[Network] = []
    for c in ccs:
        tz, nets = COUNTRIES[c]
        for i, (asn, name) in enumerate(nets[: picked[c]]):
            # The incumbent of each country is busy; the rest vary.
            volume = "busy" if i == 0 else rng.choice(["busy", "medium", "medium", "sparse"])
            noise = rng.choice([0.01, 0.015, 0.02, 0.06]) if volume != "sparse" else 0.01
            out.append(Network(asn, c, name, volume, VOLUME[volume], noise, tz))
    return out


# -- the events -------------------------------------------------------------------------


#: Mechanisms a block can use: (test, {role: technique}, partial). Roles hit by the
#: world's target changes (whatsapp/web, signal/directory) are left out, so that a
#: block is never confused with a target change by construction.
def _block_menu() -> list[tuple[str, dict[str, Fault]]]:
    menu: list[tuple[str, dict[str, Fault]]] = []
    implied_only = {("telegram", "telegram/web", "tcp.timeout", False)}
    for (test, role, tech, partial), _ in MECHANISMS.items():
        if (
            role in ("whatsapp/web", "signal/directory")
            or (test, role, tech, partial) in implied_only
        ):
            continue
        if role == "messenger/stun":
            continue
        menu.append((test, {role: Fault(tech, partial)}))
    # Blocks that hit several roles of an app at once, as censors do.
    menu += [
        ("whatsapp", {"whatsapp/endpoints": Fault("ip.blocked"),
                      "whatsapp/registration": Fault("tls.reset")}),
        ("signal", {"signal/chat": Fault("tls.reset"), "signal/storage": Fault("tls.reset"),
                    "signal/sfu": Fault("tls.reset")}),
        ("signal", {"signal/chat": Fault("dns.bogon"), "signal/storage": Fault("dns.bogon")}),
        ("facebook_messenger", {r: Fault("dns.inconsistent") for r in
                                ("messenger/edge", "messenger/api", "messenger/star",
                                 "messenger/cdn")}),
        ("telegram", {"telegram/dc": Fault("ip.blocked", partial=True),
                      "telegram/web": Fault("tls.reset")}),
    ]  # fmt: skip
    return menu


def call_input_of(role: str) -> str | None:
    return next((i for i, roles in CALL_INPUTS.items() if role in roles), None)


def _mechanisms(test: str, faults: dict[str, Fault]) -> list[str]:
    techs: list[str] = []
    for role, f in faults.items():
        techs.append(f.technique)
        for g in IMPLIED.get((test, role, f.technique, f.partial), {}).values():
            techs.append(g.technique)
    return sorted(set(techs))


@dataclass(frozen=True)
class Plan:
    start: datetime
    days: int
    networks: list[Network]
    injected: list[Injected]
    outages: list[tuple[int, datetime, datetime]]  # (asn, start, end): short, unlabelled noise
    #: (asn, start, end): a bad day on a network (congestion, a faulty link) with many
    #: more random failures than usual — noise too, not an event.
    flaky: list[tuple[int, datetime, datetime]] = field(default_factory=list)


def _overlaps(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> bool:
    return a0 < b1 and b0 < a1


def plan_world(
    rng: random.Random,
    *,
    start: datetime,
    weeks: int,
    networks: list[Network],
    events: int,
) -> Plan:
    """Where and when every block, target change, shutdown and outage happens."""
    days = weeks * 7
    end_of_world = start + timedelta(days=days)
    lead = timedelta(days=14)
    if days < 21:
        raise ValueError("a world needs at least 3 weeks: every event gets a 14-day quiet lead-in")
    by_cc: dict[str, list[Network]] = {}
    for n in networks:
        by_cc.setdefault(n.cc, []).append(n)
    injected: list[Injected] = []

    # Target changes hit every country at once: WhatsApp Web's answer changes (the
    # probe then sees 403 instead of its expected status) and a Signal endpoint the
    # probe tests is retired (its name stops resolving).
    changes = [
        ("whatsapp", "whatsapp/web", "http.blockpage", 0.40),
        ("signal", "signal/directory", "dns.nxdomain", 0.70),
    ]
    tc_times: dict[str, datetime] = {}
    for test, role, tech, frac in changes:
        at = start + timedelta(days=int(days * frac), hours=rng.randrange(6, 18))
        tc_times[service_of(role)] = at
        for cc, nets in by_cc.items():
            injected.append(
                Injected(
                    label_id="",
                    kind="target_change",
                    cc=cc,
                    asns=[n.asn for n in nets],
                    national=True,
                    test=test,
                    call_input=None,
                    service=service_of(role),
                    faults={role: Fault(tech)},
                    onset=at,
                    end=None,
                    band="national",
                    duration="long",
                    mechanisms=[tech],
                )
            )

    # Busy series: (asn, service) -> list of (body start, body end, reserved start).
    busy: dict[tuple[int, str], list[tuple[datetime, datetime]]] = {}

    def free(asns: list[int], service: str, s: datetime, e: datetime) -> bool:
        reserved = s - lead
        for a in asns:
            for b0, b1 in busy.get((a, service), ()):
                # This body must not fall in another's lead-in or body, and vice versa.
                if _overlaps(s, e + timedelta(days=1), b0 - lead, b1 + timedelta(days=1)):
                    return False
                if _overlaps(reserved, e, b0, b1):
                    return False
        tc = tc_times.get(service.split(":")[0])
        return not (
            tc is not None and _overlaps(s - timedelta(days=3), e, tc, tc + timedelta(days=3))
        )

    def take(asns: list[int], service: str, s: datetime, e: datetime) -> None:
        for a in asns:
            busy.setdefault((a, service), []).append((s, e))

    # Shutdowns: a network's measurements collapse (hours to a few days).
    shutdowns = max(2, events // 20)
    for _ in range(shutdowns * 20):
        if shutdowns == 0:
            break
        net = rng.choice(networks)
        if net.volume == "sparse":
            continue
        s = start + lead + timedelta(hours=rng.randrange(0, (days - 16) * 24))
        e = s + timedelta(hours=rng.randrange(8, 72))
        services = ["*"]
        if not free([net.asn], "*", s, e) or any(
            not free([net.asn], sv, s, e) for sv in ("whatsapp", "telegram", "signal", "messenger")
        ):
            continue
        take([net.asn], "*", s, e)
        for sv in ("whatsapp", "telegram", "signal", "messenger", "stun", "sip", "webrtc"):
            take([net.asn], sv, s, e)
            take([net.asn], f"{sv}:call", s, e)
        injected.append(
            Injected("", "shutdown", net.cc, [net.asn], False, "", None, "", {}, s, e,
                     band="single", duration="medium" if e - s > timedelta(hours=24) else "short")
        )  # fmt: skip
        del services
        shutdowns -= 1

    menu = _block_menu()
    rng.shuffle(menu)
    # Every mechanism once, then at random; bands and durations by quota.
    bands = (["national"] * 3 + ["multi"] * 3 + ["single"] * 6) * (events // 12 + 1)
    rng.shuffle(bands)
    # One block in eight lasts hours, one in eight weeks or months; the rest days.
    durations = (["short"] + ["long"] + ["medium"] * 6) * (events // 8 + 1)
    rng.shuffle(durations)
    placed = 0
    attempts = 0
    i = 0
    misses = 0
    while placed < events and attempts < events * 400:
        attempts += 1
        misses += 1
        if misses > 150:
            # This band or mechanism does not fit any more: try the next ones.
            bands.append(bands.pop(placed))
            durations.append(durations.pop(placed))
            if i < len(menu):
                menu.append(menu.pop(i))  # retried after the others
            misses = 0
        test, faults = menu[i % len(menu)] if i < len(menu) else rng.choice(menu)
        band = bands[placed]
        role = next(iter(faults))
        service = service_of(role)
        call_input = call_input_of(role) if test == "voipwatch_call" else None
        cc = rng.choice(list(by_cc))
        nets = by_cc[cc]
        if band == "national":
            scope = nets
        elif band == "multi":
            if len(nets) < 3:
                continue
            scope = rng.sample(nets, rng.randrange(2, len(nets)))
        else:
            busy_nets = [n for n in nets if n.volume == "busy"]
            pool = busy_nets if durations[placed] == "short" and busy_nets else nets
            scope = [rng.choice(pool)]
        if band == "multi" and len(scope) == len(nets):
            continue
        rate = min(n.rate for n in scope) * (CALL_SHARE if test == "voipwatch_call" else 1.0)
        duration = durations[placed]
        if duration == "short":
            if rate < 20:
                continue  # hours of a sparse network's data hold nothing to see
            length = timedelta(hours=rng.randrange(5, 11))
        elif duration == "long":
            length = timedelta(days=rng.randrange(21, 36))
        else:
            duration = "medium"
            lo = 1 if rate >= 10 else 3
            length = timedelta(days=rng.randrange(lo, 6), hours=rng.randrange(0, 24))
        # Enough measurements to see it: ~8 faulted ones in the first half of the block.
        if rate * length.total_seconds() / 86400 < 8:
            continue
        latest_onset = max(15, days - 2 if duration != "long" else days - 10)
        s = start + lead + timedelta(hours=rng.randrange(0, (latest_onset - 14) * 24))
        if duration == "short":
            local = (s.hour + nets[0].utc_offset) % 24
            s += timedelta(hours=(10 - local) % 24)  # short blocks happen by day
        e = s + length
        asns = [n.asn for n in scope]
        # The call plane's cells are not the IM test's: they may overlap in time.
        series = service if test != "voipwatch_call" else f"{service}:call"
        if not free(asns, series, s, e):
            continue
        take(asns, series, s, e)
        injected.append(
            Injected(
                label_id="",
                kind="block",
                cc=cc,
                asns=asns,
                national=band == "national",
                test=test,
                call_input=call_input,
                service=service,
                faults=faults,
                onset=s,
                end=None if e >= end_of_world else e,
                share=round(rng.uniform(0.85, 1.0), 2),
                duration=duration,
                band=band,
                mechanisms=_mechanisms(test, faults),
            )
        )
        placed += 1
        i += 1
        misses = 0

    outages: list[tuple[int, datetime, datetime]] = []
    for n in networks:
        for _ in range(rng.randrange(0, 3)):
            s = start + timedelta(hours=rng.randrange(0, days * 24 - 3))
            outages.append((n.asn, s, s + timedelta(hours=rng.randrange(1, 3))))
    flaky: list[tuple[int, datetime, datetime]] = []
    for n in networks:
        if n.volume == "sparse":
            continue
        for _ in range(rng.randrange(0, 3)):
            s = start + timedelta(hours=rng.randrange(0, days * 24 - 24))
            flaky.append((n.asn, s, s + timedelta(hours=rng.randrange(6, 25))))
    # Drawn last, so the rest of a seed's world is what it was before throttles existed.
    injected += _throttles(rng, by_cc, start, days, free)
    injected.sort(key=lambda x: (x.onset, x.cc, x.kind, x.service, x.asns))
    for k, x in enumerate(injected, 1):
        x.label_id = f"synth-{k:03d}"
    return Plan(start, days, networks, injected, sorted(outages), sorted(flaky))


def _throttles(
    rng: random.Random,
    by_cc: dict[str, list[Network]],
    start: datetime,
    days: int,
    free: Callable[[list[int], str, datetime, datetime], bool],
) -> list[Injected]:
    """SNI throttling of WhatsApp's web host (Russia/Twitter 2021 style), seen by the
    throughput A/B of the call test: one on a busy network, one nationwide, days long.
    The A/B runs on a fraction of the phones (:data:`CALL_SHARE`): a busy network
    gives about a dozen a day, enough to see a throttle within a day."""
    out: list[Injected] = []
    fault = {"whatsapp/web": Fault(THROTTLE)}
    lead = timedelta(days=14)
    for band in THROTTLE_BANDS:
        for _ in range(200):
            cc = rng.choice(sorted(by_cc))
            busy = [n for n in by_cc[cc] if n.volume == "busy"]
            scope = by_cc[cc] if band == "national" else [rng.choice(busy)]
            s = start + timedelta(days=15, hours=rng.randrange(0, max(24, (days - 26) * 24)))
            e = s + timedelta(days=rng.randrange(3, 11), hours=rng.randrange(0, 24))
            end = None if e >= start + timedelta(days=days) else e
            asns = [n.asn for n in scope]
            # The throughput series is its own: only a shutdown of the network (its
            # series "*") or another throttle there is in the way. An app's target
            # change shows on other series, so it may overlap.
            if not free(asns, "*", s, e) or any(
                set(asns) & set(x.asns) and s < (x.end or e) + lead and x.onset < e + lead
                for x in out
            ):
                continue
            out.append(
                Injected(
                    label_id="",
                    kind="throttling",
                    cc=cc,
                    asns=asns,
                    national=band == "national",
                    test="voipwatch_call",
                    call_input="generic",
                    service="whatsapp",
                    faults=fault,
                    onset=s,
                    end=end,
                    share=round(rng.uniform(0.85, 1.0), 2),
                    band=band,
                    mechanisms=[THROTTLE],
                )
            )
            break
    return out
