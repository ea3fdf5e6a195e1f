"""Command modules: one verb (or one group of verbs) per module.

Each module here that defines ``register(app)`` adds its commands to the voipwatch
Typer app; :func:`register_all` finds them, so a new verb is a new module and nothing
else. Modules import their room's code inside the command functions, which keeps
``voipwatch --help`` fast.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer


def register_all(app: typer.Typer) -> None:
    """Let every command module in this package add its verbs to ``app``, by name order."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "options":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)
