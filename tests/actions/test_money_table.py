"""One currency table: templates, HubSpot and Segment print amounts with the core's exponents
(zero-, two- and three-decimal currencies), never a table of their own (issue #13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actions.hubspot import HubSpotParams, properties
from actions.templates import make_renderer, money
from actions.traits import contact_traits
from tests.actions.conftest import ACCOUNT
from worker.core.money import format_minor

ACTIONS = Path(__file__).resolve().parents[2] / "actions"


@pytest.mark.parametrize(("minor", "currency", "text"), [
    (1234, "bhd", "1.234 BHD"), (1234, "KWD", "1.234 KWD"), (5, "jod", "0.005 JOD"), (1234, "omr", "1.234 OMR"),
    (1234, "tnd", "1.234 TND"), (1500, "jpy", "1500 JPY"), (15000, "usd", "150.00 USD"), (-250, "eur", "-2.50 EUR"),
])
def test_money_filter_uses_the_currency_exponent(minor, currency, text):
    assert money(minor, currency) == text
    assert money({"amount_minor": minor, "currency": currency}) == text
    # the same digits as the core's display (which adds thousands separators)
    assert format_minor(minor, currency.lower()).replace(",", "") == text


def test_template_renders_three_decimal_mrr():
    render = make_renderer({"contact": {**ACCOUNT, "mrr": {"amount_minor": 1234, "currency": "bhd"}}})
    assert render("{{ contact.mrr | money }}") == "1.234 BHD"


def test_hubspot_and_segment_mrr_traits_for_three_decimal_currencies(make_ctx):
    contact = {**ACCOUNT, "mrr": {"amount_minor": 1234, "currency": "kwd"}}
    params = HubSpotParams.model_validate({"token": "pat-na1-x", "base_url": "http://127.0.0.1:9/"})
    assert properties(make_ctx(contact=contact), params)["stripe_mrr"] == "1.234"
    traits = contact_traits(contact, None)
    assert (traits["mrr"], traits["mrr_currency"]) == (1.234, "kwd")
    assert json.dumps(contact_traits({**ACCOUNT, "mrr": {"amount_minor": 1500, "currency": "jpy"}}, None)["mrr"]) \
        == "1500.0"


def test_actions_keep_no_currency_table_of_their_own():
    for path in ACTIONS.glob("*.py"):
        text = path.read_text()
        assert "ZERO_DECIMAL" not in text and '"jpy' not in text and "THREE_DECIMAL" not in text, path.name
