"""The one rule for "blocked here": significance against the network's own baseline."""

from __future__ import annotations

import math

import pytest

from voipwatch.events.standing import (
    BASELINE_FLOOR,
    Judgement,
    baselines,
    judge,
    lower_bound,
    standing,
)


def _binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly: a check written apart from Wilson."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def test_wilson_lower_bound_of_a_textbook_case() -> None:
    # 5 of 10 at the one-sided 95 % quantile 1.645, worked by hand from Wilson's formula.
    assert lower_bound(5, 10) == pytest.approx(0.2692, abs=1e-4)
    assert lower_bound(0, 10) == 0.0
    assert lower_bound(0, 0) == 0.0
    assert lower_bound(10, 10) == pytest.approx(0.7870, abs=1e-4)


def test_two_anomalies_in_hundreds_are_not_a_block() -> None:
    j = judge(2, 572)
    assert j.status == "ok"
    assert not j.significant
    assert (j.blocked, j.judged) == (2, 572)


def test_a_handful_is_never_enough_whatever_its_share() -> None:
    assert judge(4, 4).status == "ok"
    assert judge(9, 9).status == "ok"  # fewer than 10 judged
    assert judge(10, 10).status == "blocked"


def test_a_clear_minority_is_partial_and_a_clear_majority_blocked() -> None:
    assert judge(5, 10).status == "partial"
    assert judge(100, 100).status == "blocked"
    assert judge(30, 100).status == "partial"
    # At the floor, 8 of 100 is within noise.
    assert judge(8, 100).status == "ok"


@pytest.mark.parametrize(("blocked", "judged", "base"), [(20, 200, 0.05), (40, 100, 0.3)])
def test_significant_shares_are_unlikely_at_the_baseline(
    blocked: int, judged: int, base: float
) -> None:
    j = judge(blocked, judged, base)
    assert j.significant
    assert _binomial_tail(blocked, judged, base) < 0.06


@pytest.mark.parametrize(("blocked", "judged", "base"), [(8, 100, 0.05), (35, 100, 0.3)])
def test_shares_near_the_baseline_stay_ok(blocked: int, judged: int, base: float) -> None:
    assert not judge(blocked, judged, base).significant
    assert _binomial_tail(blocked, judged, base) > 0.05


def test_a_flaky_network_does_not_single_out_an_app() -> None:
    # Every role fails about a third of the time: none stands above the others.
    shares = {"a/x": (33, 100), "b/x": (30, 100), "c/x": (35, 100), "d/x": (31, 100)}
    base = baselines(shares)
    assert all(b > 0.29 for b in base.values())
    assert all(not judge(*shares[r], base[r]).significant for r in shares)
    # One role blocked outright on the same network still is.
    shares["e/x"] = (95, 100)
    base = baselines(shares)
    assert judge(*shares["e/x"], base["e/x"]).status == "blocked"


def test_a_network_measuring_one_role_is_judged_against_the_floor() -> None:
    assert baselines({"a/x": (50, 50)}) == {"a/x": BASELINE_FLOOR}
    # Roles with too few verdicts do not set anyone's baseline.
    assert baselines({"a/x": (50, 50), "b/x": (3, 3)})["a/x"] == BASELINE_FLOOR


def test_the_worst_part_decides_and_shows_its_counts() -> None:
    parts = [judge(1, 300), judge(40, 50), judge(20, 100)]
    whole = standing(parts)
    assert whole is parts[1]
    assert whole.status == "blocked"
    calm = standing([judge(1, 300), judge(2, 100)])
    assert (calm.status, calm.blocked, calm.judged) == ("ok", 3, 400)
    assert standing([]) == Judgement("ok", 0, 0, 0.0, BASELINE_FLOOR)


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="counts"):
        judge(5, 3)
