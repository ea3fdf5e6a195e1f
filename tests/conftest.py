"""Fixtures shared by every test: where the real OONI samples live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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
