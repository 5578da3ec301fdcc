"""The small notations ops write in rule files (pure core): durations, comparisons, percentages.

Each parser returns `(value, None)` or `(None, message)`; the message says what is expected,
so the loader can put it after `FILE:LINE:`.

- duration: a whole number and a unit — `90 minutes`, `12 hours`, `30 days`, `2 weeks`
  (singular, plural and the short forms `min`, `h`, `d`, `w`); more than zero.
- comparison: an operator (== != < <= > >=) and a number in major units — `">= 100"`,
  `"< 99.5"`; kept as an exact Decimal.
- percentage: a number from 0 to 100 followed by `%` — `10%`, `2.5%`; returned as a fraction.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from worker.rules.model import Comparison

_UNITS = {
    "minute": "minutes", "minutes": "minutes", "min": "minutes", "mins": "minutes",
    "hour": "hours", "hours": "hours", "h": "hours",
    "day": "days", "days": "days", "d": "days",
    "week": "weeks", "weeks": "weeks", "w": "weeks",
}
_DURATION = re.compile(r"^\s*(\d+)\s*([A-Za-z]+)\s*$")
_COMPARISON = re.compile(r"^\s*(==|!=|<=|>=|<|>)\s*(\S.*?)\s*$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_PERCENT = re.compile(r"^\s*(\S+?)\s*%\s*$")

DURATION_HINT = "write a whole number and a unit, e.g. '30 days', '12 hours', '2 weeks' or '90 minutes'"
COMPARISON_HINT = "write an operator (== != < <= > >=) and an amount, in quotes, e.g. \">= 100\""
PERCENT_HINT = "write a percentage from 0% to 100%, e.g. '10%'"


def parse_duration(value: Any) -> tuple[timedelta | None, str | None]:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        return None, f"expected a duration, got {_shown(value)}; {DURATION_HINT}"
    if isinstance(value, (int, Decimal)):
        return None, f"'{value}' has no unit; {DURATION_HINT}"
    match = _DURATION.match(value)
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        return None, f"'{value}' is not a duration; {DURATION_HINT}"
    amount = int(match.group(1))
    if amount == 0:
        return None, f"'{value}' is zero; a duration must be longer than that"
    return timedelta(**{unit: amount}), None


def parse_comparison(value: Any) -> tuple[Comparison | None, str | None]:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        return None, f"expected a comparison, got {_shown(value)}; {COMPARISON_HINT}"
    if isinstance(value, (int, Decimal)):
        return None, f"'{value}' has no operator; {COMPARISON_HINT}"
    match = _COMPARISON.match(value)
    if match is None or not _NUMBER.match(match.group(2)):
        return None, f"'{value}' is not a comparison; {COMPARISON_HINT}"
    return Comparison(op=match.group(1), value=Decimal(match.group(2))), None


def parse_percentage(value: Any) -> tuple[Decimal | None, str | None]:
    """`10%` → Decimal('0.1'). A bare number is refused (is 0.1 a tenth or 0.1%?)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        return None, f"expected a percentage, got {_shown(value)}; {PERCENT_HINT}"
    if isinstance(value, (int, Decimal)):
        return None, f"'{value}' has no '%' sign; {PERCENT_HINT}"
    match = _PERCENT.match(value)
    try:
        number = Decimal(match.group(1)) if match else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        return None, f"'{value}' is not a percentage; {PERCENT_HINT}"
    if not Decimal(0) <= number <= Decimal(100):
        return None, f"'{value}' is outside 0% to 100%"
    return number / Decimal(100), None


def _shown(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
