"""Fixtures shared by every test (where the real OONI samples live), and how the tests
are shared out between workers when they run in parallel (``pytest -n N``)."""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId
from typer.testing import CliRunner

from voipwatch.cli import app

#: Session fixtures every worker builds for itself: cheap, or read-only and shared.
_SHARED_SESSION_FIXTURES = {
    "shared_dir",
    "tmp_path_factory",
    "pytestconfig",
    "worker_id",
    "testrun_uid",
}


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Generator[None, None, None]:
    """Keep tests that share an expensive fixture on one worker.

    ``scripts/test`` runs the suite with ``--dist loadgroup``: tests without a group
    go to any worker one by one, so a slow module of independent tests (a simulated
    world each) spreads over every worker. A fixture built once for many tests (a
    store, a world, a server) would be built again on every worker that runs one of
    them: the tests of a module fixture form a group named after the module, and the
    tests of a session fixture one named after the conftest that defines it (the web
    tests' store, live server and Chromium, and the screenshot folder that Chromium's
    first use empties, stay on one worker).

    pytest-xdist 3.8 names a test's group by rewriting ``item._nodeid`` (the test's
    id with ``@group`` after it), which pytest 9 no longer reads: its ids live in
    ``item._id``. So, after every other implementation of this hook has run (xdist's
    included), the id xdist wrote is carried over to where pytest 9 reads it; without
    that, every worker would build the fixtures its share of a group needs. No test
    relies on running beside another: the groups only save building things twice.
    """
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None or item.get_closest_marker("xdist_group") is not None:
            continue
        defs = [
            d[-1] for name, d in info.name2fixturedefs.items() if d and name in item.fixturenames
        ]
        session = sorted(
            d.baseid or "tests"
            for d in defs
            if d.scope == "session" and d.argname not in _SHARED_SESSION_FIXTURES
        )
        if session:
            item.add_marker(pytest.mark.xdist_group(f"session fixtures of {session[0]}"))
        elif any(d.scope in ("module", "class", "package") for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__ if item.module else ""))
    yield
    for item in items:
        grouped = item.__dict__.get("_nodeid")
        if isinstance(grouped, str) and grouped != item.nodeid and hasattr(item, "_id"):
            item._id = NodeId.parse(grouped)


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


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """The demo's store (``voipwatch demo --build-only``) and what the build printed.

    Built once for the modules that check it (the demo's own tests, the counts said
    the same way everywhere): the same seed gives the same world, so each building
    its own store only did the same work twice.
    """
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    result = CliRunner().invoke(app, ["demo", "--build-only", "--json", "--db", str(db)])
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return db, doc
