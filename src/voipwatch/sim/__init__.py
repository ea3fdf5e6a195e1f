"""The censorship simulator: a censored network in namespaces, with real servers.

``World`` builds client ⇄ censor ⇄ internet namespaces for one ``Scenario``, runs
the probe (or any command) in the client and tears everything down afterwards;
``cleanup_stale`` removes what crashed runs left behind.
"""

from __future__ import annotations

from voipwatch.sim.errors import ScenarioError, SimulationError
from voipwatch.sim.network import World, cleanup_stale
from voipwatch.sim.scenario import Scenario, builtin_names
from voipwatch.sim.scenario import load as load_scenario

__all__ = [
    "Scenario",
    "ScenarioError",
    "SimulationError",
    "World",
    "builtin_names",
    "cleanup_stale",
    "load_scenario",
]
