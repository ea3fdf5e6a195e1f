"""The simulator's error: one clear line, never a traceback."""

from __future__ import annotations

from voipwatch.errors import VoipwatchError


class SimulationError(VoipwatchError):
    """The simulated world cannot be built or run (not root, missing tool, kernel, scenario)."""


class ScenarioError(SimulationError):
    """A scenario file is malformed or asks for something the simulator does not know."""
