"""Re-judging never changes a verdict: the same files under different hash seeds.

Python randomises the order of sets of strings per process (``PYTHONHASHSEED``); a
tie left to that order makes a verdict depend on the run. Each seed judges the same
files in a fresh process and the outputs must be identical, byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "measurements"
SEEDS = ("0", "1", "2", "3", "4", "5", "6", "1234")


def _judge(paths: list[Path], seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed, "NO_COLOR": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "voipwatch.cli", "verdicts", "--json", *map(str, paths)],
        capture_output=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr.decode("utf-8", "replace")[-2000:]
    return res.stdout


def _same_under_every_seed(paths: list[Path]) -> int:
    first = _judge(paths, SEEDS[0])
    assert first.count(b"\n") >= len(paths)
    for seed in SEEDS[1:]:
        other = _judge(paths, seed)
        if other != first:
            a, b = first.splitlines(), other.splitlines()
            diff = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
            pytest.fail(
                f"PYTHONHASHSEED={seed} changes verdict {diff + 1}:\n"
                f"seed {SEEDS[0]}: {a[diff][:600]!r}\nseed {seed}: {b[diff][:600]!r}"
            )
    return first.count(b"\n")


def test_fixture_verdicts_do_not_depend_on_the_hash_seed() -> None:
    paths = sorted(FIXTURES.glob("*.json"))
    assert _same_under_every_seed(paths) == len(paths)


@pytest.mark.shared
def test_sample_verdicts_do_not_depend_on_the_hash_seed(shared_dir: Path) -> None:
    samples = shared_dir / "ooni-samples"
    paths = [samples / "derived" / "all_raw_measurements.jsonl", samples / "more" / "all_im.jsonl"]
    assert _same_under_every_seed(paths) >= 200
