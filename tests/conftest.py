"""Fixtures shared by every test (where the real OONI samples live), and how the tests
are shared out between workers when they run in parallel (``pytest -n N``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Session fixtures every worker builds for itself: cheap, or read-only and shared.
_SHARED_SESSION_FIXTURES = {
    "shared_dir",
    "tmp_path_factory",
    "pytestconfig",
    "worker_id",
    "testrun_uid",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the tests of a module that share a module fixture on one worker.

    ``scripts/test`` runs the suite with ``--dist loadgroup``: tests without a group
    go to any worker one by one, so a slow module of independent tests (a simulated
    world each) spreads over every worker. A module fixture (a store, a world, a
    server built once for the module's tests) would be built again on every worker
    that runs one of its tests: those tests form one group, named after the module.
    Session fixtures of the web tests (the store, the live server, Chromium, the
    screenshot folder it empties) form the group ``web``.
    """
    for item in items:
        defs = getattr(item, "_fixtureinfo", None)
        if defs is None or item.get_closest_marker("xdist_group") is not None:
            continue
        scopes = {
            name: fixture_defs[-1].scope
            for name, fixture_defs in defs.name2fixturedefs.items()
            if fixture_defs
        }
        if any(
            scope == "session" and name not in _SHARED_SESSION_FIXTURES
            for name, scope in scopes.items()
        ):
            item.add_marker(pytest.mark.xdist_group("web"))
        elif any(scope in ("module", "class", "package") for scope in scopes.values()):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__ if item.module else ""))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``shared`` folder beside the repository (real OONI samples and notes).

    Tests that need it skip when it is absent, except in CI (``CI=true``), where
    skipping would hide that they never ran.
    """
    path = Path(__file__).resolve().parents[1].parent / "shared"
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI must provide the shared sample data")
        pytest.skip(f"{path} is absent")
    return path
