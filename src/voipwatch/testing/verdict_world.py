"""A small hand-built world of role verdicts for the event detector's tests.

Measurements are judged-looking rows written through the store's own insert path
(``insert_rows``), so cells see exactly what ingest would store, without raw OONI
files or the verdict rules in the way.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from voipwatch.store import Store
from voipwatch.store.batch import insert_rows
from voipwatch.store.rows import Rows
from voipwatch.verdicts.types import Judgement, RoleVerdict, Verdict

#: (service, role, plane, status, technique) of one measurement
RoleRow = tuple[str, str, str, str, str | None]
#: (key, cc, asn, time, role rows)
Row = tuple[str, str, int, datetime, list[RoleRow]]

#: service → its roles and their planes
SERVICES: dict[str, list[tuple[str, str]]] = {
    "whatsapp": [("endpoints", "signalling"), ("web", "web")],
    "telegram": [("dc", "signalling"), ("web", "web")],
    "signal": [("backend", "signalling")],
}


@dataclass(frozen=True)
class Network:
    cc: str
    asn: int
    per_day: float  # measurements of each service per day


@dataclass(frozen=True)
class Block:
    cc: str
    asns: tuple[int, ...]
    service: str
    roles: tuple[str, ...]
    start: datetime
    end: datetime | None
    status: str = "blocked"
    technique: str = "tcp.timeout"
    share: float = 0.95  # of measurements during the block that see it


@dataclass
class World:
    networks: list[Network]
    blocks: list[Block] = field(default_factory=list)
    start: datetime = datetime(2026, 1, 5)
    days: int = 28
    noise: float = 0.02  # random blocked verdicts (flaky networks)
    failures: float = 0.03
    seed: int = 1
    services: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: dict(SERVICES))

    def rows(self) -> list[Row]:
        """(key, cc, asn, time, [(service, role, plane, status, technique)]) in time order."""
        rng = random.Random(self.seed)
        out = []
        for net in self.networks:
            for service, roles in self.services.items():
                for day in range(self.days):
                    base = self.start + timedelta(days=day)
                    count = int(net.per_day) + (rng.random() < net.per_day % 1)
                    for i in range(count):
                        t = base + timedelta(seconds=rng.randrange(86400))
                        verdicts = []
                        for role, plane in roles:
                            status, tech = "ok", None
                            r = rng.random()
                            if r < self.failures:
                                status = "failure"
                            elif r < self.failures + self.noise:
                                status, tech = "blocked", "tcp.timeout"
                            for b in self.blocks:
                                hit = (
                                    b.cc == net.cc
                                    and net.asn in b.asns
                                    and b.service == service
                                    and role in b.roles
                                    and b.start <= t
                                    and (b.end is None or t < b.end)
                                )
                                if hit and rng.random() < b.share:
                                    status, tech = b.status, b.technique
                            verdicts.append((service, role, plane, status, tech))
                        key = f"{net.cc}-{net.asn}-{service}-{day}-{i}-{self.seed}"
                        out.append((key, net.cc, net.asn, t, verdicts))
        out.sort(key=lambda r: (r[3], r[0]))
        return out


def judgement(key: str, cc: str, asn: int, t: datetime, verdicts: Iterable[RoleRow]) -> Judgement:
    services = [
        RoleVerdict(
            service=s,
            role=r,
            plane=p,  # type: ignore[arg-type]
            status=st,  # type: ignore[arg-type]
            technique=tech,
            confidence=0.9,
            evidence=[],
        )
        for s, r, p, st, tech in verdicts
    ]
    status = "anomaly" if any(v.status == "blocked" for v in services) else "ok"
    verdict = Verdict(
        measurement_uid=f"uid-{key}",
        report_id=f"report-{key}",
        test_name=services[0].service if services else "whatsapp",
        test_version="0.1",
        probe_cc=cc,
        probe_asn=f"AS{asn}",
        measurement_start_time=t.strftime("%Y-%m-%d %H:%M:%S"),
        input=None,
        status=status,  # type: ignore[arg-type]
        services=services,
    )
    return Judgement(key=key, verdict=verdict, observations=[])


def insert(store: Store, rows: Iterable[Row]) -> int:
    """Store the rows (skipping stored keys); the number inserted."""
    batch = Rows()
    for n, (key, cc, asn, t, verdicts) in enumerate(rows):
        j = judgement(key, cc, asn, t, verdicts)
        batch.add(j, source="events-world", line=n + 1, raw=b"{}")
    if not len(batch):
        return 0
    with store.transaction():
        return len(insert_rows(store.con, batch))
