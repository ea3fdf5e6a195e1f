"""Cells put in series-then-hour order, by their grid slot or by comparison."""

from __future__ import annotations

import numpy as np
import pytest

from voipwatch.store.cells import DENSE_SLOTS, cell_order


def _cells(
    rng: np.random.Generator, series: int, hours: int, share: float
) -> tuple[np.ndarray, np.ndarray]:
    """``share`` of a grid of series by hours, shuffled; series keys are 64-bit hashes."""
    keys = rng.integers(0, 2**64, size=series, dtype=np.uint64)
    s, h = np.divmod(np.arange(series * hours), hours)
    kept = rng.random(series * hours) < share
    order = rng.permutation(int(kept.sum()))
    return keys[s[kept]][order], (h[kept] + 490_000).astype(np.int32)[order]


@pytest.mark.parametrize(
    ("series", "hours", "share"),
    [(40, 300, 0.9), (40, 300, 1 / (2 * DENSE_SLOTS)), (1, 5, 1.0), (300, 2000, 0.02)],
)
def test_cells_are_ordered_by_series_then_hour(series: int, hours: int, share: float) -> None:
    rng = np.random.default_rng(series + hours)
    sk, h = _cells(rng, series, hours, share)
    assert len(sk) > 0
    assert cell_order(sk, h).tolist() == np.lexsort((h, sk)).tolist()


def test_no_cells_no_order() -> None:
    empty = cell_order(np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int32))
    assert empty.tolist() == []
