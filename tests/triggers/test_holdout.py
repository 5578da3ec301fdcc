"""Holdout arms (PRODUCT.md §8): a stable hash of (automation, contact)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from worker.core.holdout import arm_for, draw


def test_the_same_pair_always_gets_the_same_arm_and_draw():
    assert draw("renewal-heads-up", "acme-1") == draw("renewal-heads-up", "acme-1")
    arms = {arm_for("renewal-heads-up", f"c{i}", Decimal("0.5")) for i in range(3) for _ in range(3)}
    assert arms <= {"treated", "holdout"}
    for i in range(200):
        assert arm_for("a", f"c{i}", Decimal("0.3")) == arm_for("a", f"c{i}", Decimal("0.3"))


def test_the_draw_is_pinned_so_arms_survive_upgrades():
    # SHA-256("a\x00c1")[:8] / 2**64 — changing the hash would reshuffle running experiments.
    assert float(draw("a", "c1")) == pytest.approx(0.82797, abs=1e-5)


@pytest.mark.parametrize("fraction", ["0.1", "0.25", "0.5"])
def test_the_holdout_share_over_10000_contacts_is_near_the_fraction(fraction):
    held = sum(arm_for("renewal-heads-up", f"cus_{i}", Decimal(fraction)) == "holdout"
               for i in range(10_000))
    expected = 10_000 * float(fraction)
    sigma = (10_000 * float(fraction) * (1 - float(fraction))) ** 0.5
    assert abs(held - expected) < 4 * sigma


@pytest.mark.parametrize(("fraction", "arm"), [("0", "treated"), ("1", "holdout")])
def test_zero_and_full_holdout_are_absolute(fraction, arm):
    assert {arm_for("x", f"c{i}", Decimal(fraction)) for i in range(500)} == {arm}


def test_automations_draw_independently():
    a = [arm_for("first", f"c{i}", Decimal("0.5")) for i in range(2000)]
    b = [arm_for("second", f"c{i}", Decimal("0.5")) for i in range(2000)]
    agree = sum(x == y for x, y in zip(a, b))
    assert 850 < agree < 1150  # ~50% agreement, not the same split
