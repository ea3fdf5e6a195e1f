"""What every test is: a name and version, a plan of targets, a measurement, its keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from voipwatch.catalog import Catalog
from voipwatch.probe.config import ProbeConfig
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.steps import Ctx


@dataclass
class Plan:
    """The targets of a test, known before it runs (for the control helper).

    ``tcp`` and ``tls`` name hosts or literal addresses; the helper is sent the
    addresses the probe's own resolver gave, so both sides test the same servers.
    """

    dns: list[str] = field(default_factory=list)
    tcp: list[tuple[str, int]] = field(default_factory=list)
    tls: list[tuple[str, int]] = field(default_factory=list)
    #: Call-plane servers (host, UDP port) the helper sends a STUN binding to.
    stun: list[tuple[str, int]] = field(default_factory=list)


class Experiment:
    test_name: str
    test_version: str
    service: str
    #: The measurement's ``input`` (OONI: the URL or target tested; None for IM tests).
    input: str | None = None
    #: Whether the control helper (``[probe.helper] url``) is asked about the plan.
    asks_control: bool = True

    def __init__(self, catalog: Catalog, config: ProbeConfig) -> None:
        self.catalog = catalog
        self.config = config

    def plan(self) -> Plan:
        raise NotImplementedError

    async def measure(self, ctx: Ctx) -> None:
        raise NotImplementedError

    def keys(self) -> JsonObject:
        """The test's own keys, computed from what :meth:`measure` saw (after the run)."""
        raise NotImplementedError

    def ip(self, literal: str) -> str:
        """A catalogue address as the overlay maps it (a simulated world)."""
        return self.config.overlay.ips.get(literal, literal)
