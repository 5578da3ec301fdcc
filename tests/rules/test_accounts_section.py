"""`accounts:` in stripe.yaml (issue #18 point 6): several Stripe accounts, each problem at its line."""

from __future__ import annotations

from worker.settings import load_settings
from worker.sync.accounts import stripe_accounts

ENV = {"KEY_EU": "sk_test_eu_secret_value_1234", "KEY_US": "sk_test_us_secret_value_5678",
       "WH_EU": "whsec_eu_secret_value_9999"}


def test_accounts_load_with_keys_from_the_environment(load):
    rules = load({"stripe.yaml": """\
        accounts:
          - name: eu
            api_key: "${KEY_EU}"
            api_base: http://127.0.0.1:9999/
            webhook_secret: "${WH_EU}"
          - name: us
            api_key: "${KEY_US}"
        """}, ENV)
    eu, us = rules.accounts
    assert (eu.name, eu.api_key.get_secret_value(), eu.api_base) == ("eu", ENV["KEY_EU"], "http://127.0.0.1:9999")
    assert eu.webhook_secret.get_secret_value() == ENV["WH_EU"]
    assert (us.name, us.api_base, us.webhook_secret) == ("us", None, None)
    resolved = stripe_accounts(load_settings(stripe_api_base="https://api.stripe.com"), rules)
    assert [(a.name, a.api_base) for a in resolved] == [("eu", "http://127.0.0.1:9999"),
                                                        ("us", "https://api.stripe.com")]


def test_without_accounts_there_is_one_default_account_from_the_settings(load):
    rules = load({}, ENV)
    settings = load_settings(stripe_api_key="sk_test_default_key_1234", stripe_webhook_secret="whsec_default_1234")
    (only,) = stripe_accounts(settings, rules)
    assert only.name == "default" and only.api_key() == "sk_test_default_key_1234"
    assert only.webhook_secret.get_secret_value() == "whsec_default_1234"


def test_bad_accounts_are_named_at_their_lines_without_secrets(problems_of):
    problems = problems_of({"stripe.yaml": """\
        accounts:
          - name: eu
            api_key: "${KEY_EU}"
          - name: eu
            api_key: "${KEY_US}"
          - name: Not A Name
            api_key: "${KEY_US}"
          - name: nokey
          - name: unset
            api_key: "${KEY_MISSING}"
          - name: literal
            api_key: sk_test_typed_into_the_file
          - name: base
            api_key: "${KEY_US}"
            api_base: ftp://example
            colour: blue
        """}, ENV)
    text = "\n".join(problems)
    assert "stripe.yaml:4: accounts: the name 'eu' is used twice" in text
    assert "stripe.yaml:6: accounts: name 'Not A Name' is not an account name" in text
    assert "stripe.yaml:8: accounts 'nokey': api_key is missing" in text
    assert "stripe.yaml:10: environment variable KEY_MISSING is not set" in text
    assert "stripe.yaml:12: accounts 'literal': api_key is written in the file" in text
    assert "stripe.yaml:15: accounts 'base': api_base expects a URL" in text
    assert "stripe.yaml:16: accounts: unknown key 'colour'" in text
    assert not any(value in text for value in ENV.values())
    assert "sk_test_typed_into_the_file" not in text


def test_accounts_must_be_a_list(problems_of):
    problems = problems_of({"stripe.yaml": "accounts:\n  eu: x\n"}, ENV)
    assert any(p.startswith("stripe.yaml:1: accounts: expected a list of Stripe accounts") for p in problems)
