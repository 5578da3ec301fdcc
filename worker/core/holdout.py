"""Holdout assignment: a stable hash of (automation, contact) picks the arm (pure core).

PRODUCT.md §8: a share `holdout` of the contacts an automation matches is kept as a control
group (matched and logged, no actions). The draw is SHA-256 of the automation name and the
contact id, read as a uniform number in [0, 1): the same pair always lands in the same arm,
across processes and restarts, and different automations draw independently.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from fractions import Fraction
from typing import Literal

Arm = Literal["treated", "holdout"]
_SPAN = 2**64


def draw(automation: str, contact_id: str) -> Fraction:
    """The pair's position in [0, 1), exact: the first 64 bits of SHA-256 over 2**64."""
    digest = hashlib.sha256(f"{automation}\x00{contact_id}".encode()).digest()
    return Fraction(int.from_bytes(digest[:8], "big"), _SPAN)


def arm_for(automation: str, contact_id: str, holdout: Decimal) -> Arm:
    """`holdout` when the pair's draw falls below the holdout fraction (0..1), else `treated`."""
    if holdout <= 0:
        return "treated"
    return "holdout" if draw(automation, contact_id) < Fraction(holdout) else "treated"
