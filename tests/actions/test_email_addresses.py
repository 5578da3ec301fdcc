"""Email addresses are parsed as RFC 5322 lists (issue 16, point 6): a quoted display name
holding a comma is one recipient, at load time and at send time."""

from __future__ import annotations

import pytest

from actions.email import EmailParams
from actions.fields import email_problem, split_addresses


@pytest.mark.parametrize(("value", "expected"), [
    ('"Success, Customer" <cs@example.com>', ['"Success, Customer" <cs@example.com>']),
    ('ops@example.com, "Success, Customer" <cs@example.com>', ["ops@example.com", '"Success, Customer" <cs@example.com>']),
    ("a@x.io, B <b@y.io>", ["a@x.io", "B <b@y.io>"]),
])
def test_display_names_with_commas_are_one_address(value, expected):
    assert split_addresses(value) == expected
    assert all(email_problem(address) is None for address in expected)


def test_the_email_action_accepts_a_display_name_with_a_comma_and_still_refuses_garbage():
    params = EmailParams.model_validate({"to": '"Success, Customer" <cs@example.com>', "subject": "s", "text": "t"})
    assert params.to == '"Success, Customer" <cs@example.com>'
    with pytest.raises(ValueError, match="email address"):
        EmailParams.model_validate({"to": "ops@example.com, not-an-address", "subject": "s", "text": "t"})
