"""The notations ops write (pure core): durations, comparisons, percentages — by table."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from worker.rules.model import Comparison
from worker.rules.notation import parse_comparison, parse_duration, parse_percentage


@pytest.mark.parametrize(("text", "expected"), [
    ("30 days", timedelta(days=30)),
    ("1 day", timedelta(days=1)),
    ("12 hours", timedelta(hours=12)),
    ("2 weeks", timedelta(weeks=2)),
    ("90 minutes", timedelta(minutes=90)),
    ("7d", timedelta(days=7)),
    ("  3 Days ", timedelta(days=3)),
    ("1 w", timedelta(weeks=1)),
])
def test_duration_reads_number_and_unit(text, expected):
    assert parse_duration(text) == (expected, None)


@pytest.mark.parametrize(("value", "fragment"), [
    ("30 dayz", "'30 dayz' is not a duration"),
    ("thirty days", "is not a duration"),
    ("1.5 days", "is not a duration"),
    ("-3 days", "is not a duration"),
    (30, "'30' has no unit"),
    ("0 hours", "is zero"),
    (None, "expected a duration, got nothing"),
    ([1], "expected a duration, got a list"),
])
def test_duration_refuses_malformed_values(value, fragment):
    result, message = parse_duration(value)
    assert result is None and fragment in message


@pytest.mark.parametrize(("text", "op", "value"), [
    (">= 100", ">=", Decimal("100")),
    ("== 0", "==", Decimal("0")),
    ("< 99.5", "<", Decimal("99.5")),
    ("!=12", "!=", Decimal("12")),
    (">1000.00", ">", Decimal("1000.00")),
    ("<= -1", "<=", Decimal("-1")),
])
def test_comparison_keeps_exact_decimal(text, op, value):
    comparison, message = parse_comparison(text)
    assert message is None
    assert comparison == Comparison(op=op, value=value)
    assert isinstance(comparison.value, Decimal)


@pytest.mark.parametrize("value", ["=> 100", ">= ", "100", "> 1e3", ">= 1,000", "~ 5", 100, None, True])
def test_comparison_refuses_malformed_values(value):
    comparison, message = parse_comparison(value)
    assert comparison is None and message


@pytest.mark.parametrize(("op", "amount", "holds"), [
    (">=", "100", True), (">=", "99.99", False), ("==", "100.00", True), ("!=", "100", False),
    ("<", "99.99", True), ("<=", "100", True), (">", "100", False),
])
def test_comparison_holds_against_an_amount(op, amount, holds):
    assert Comparison(op=op, value=Decimal("100")).holds(Decimal(amount)) is holds


@pytest.mark.parametrize(("text", "fraction"), [
    ("10%", Decimal("0.1")), ("0%", Decimal("0")), ("100%", Decimal("1")), ("2.5 %", Decimal("0.025")),
])
def test_percentage_becomes_a_fraction(text, fraction):
    assert parse_percentage(text) == (fraction, None)


@pytest.mark.parametrize(("value", "fragment"), [
    ("110%", "outside 0% to 100%"), ("-5%", "outside 0% to 100%"), ("ten%", "is not a percentage"),
    ("10", "is not a percentage"), (10, "has no '%' sign"), (Decimal("0.1"), "has no '%' sign"),
    ("nan%", "is not a percentage"),
])
def test_percentage_refuses_malformed_values(value, fragment):
    fraction, message = parse_percentage(value)
    assert fraction is None and fragment in message
