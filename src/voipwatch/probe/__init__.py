"""The probe room: measure this network's treatment of messaging and calling apps.

``run(config, apps)`` makes one OONI-format measurement per app (OONI's
``whatsapp``, ``telegram``, ``signal`` and ``facebook_messenger`` tests, and
``voipwatch_<app>`` for the others); ``summary(verdicts)`` says in plain words what
the verdict engine made of them. See ``runner`` for the concurrency and time bound,
``steps`` for the controls, ``errors`` for the failure vocabulary.
"""

from __future__ import annotations

from voipwatch.probe.config import ProbeConfig, load_config, parse_config
from voipwatch.probe.experiments import APPS
from voipwatch.probe.runner import resolve_apps, run, run_async
from voipwatch.probe.summary import summary

__all__ = [
    "APPS",
    "ProbeConfig",
    "load_config",
    "parse_config",
    "resolve_apps",
    "run",
    "run_async",
    "summary",
]
