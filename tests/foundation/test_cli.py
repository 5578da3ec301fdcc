"""The command line: every command listed, `connect` against a local HTTP server, and plain
error sentences (never a traceback) for the failures a user meets first."""

from __future__ import annotations

import re

import pytest

COMMANDS = ["connect", "check", "sync", "evaluate", "accounts", "report", "contacts", "run",
            "scheduler", "web", "demo", "worker"]
KEY = "sk_test_51ConnectKey0123456789abcdef"


def test_help_lists_every_command_of_the_contract(cli):
    result = cli("--help", env={"COLUMNS": "200"})
    assert result.returncode == 0
    listed = set(re.findall(r"│ (\w+)\s", result.stdout))
    assert set(COMMANDS) <= listed


def _stripe_list(httpserver):
    httpserver.expect_request("/v1/customers", method="GET").respond_with_json(
        {"object": "list", "data": [], "has_more": False, "url": "/v1/customers"})


def test_connect_prints_account_mode_and_key_kind(cli, httpserver):
    _stripe_list(httpserver)
    httpserver.expect_request("/v1/account").respond_with_json(
        {"id": "acct_123", "object": "account", "business_profile": {"name": "Acme Inc"}})
    result = cli("connect", env={"STRIPE_API_KEY": KEY, "STRIPE_API_BASE": httpserver.url_for("")})
    assert result.returncode == 0, result.stderr
    assert "acct_123" in result.stdout and "Acme Inc" in result.stdout
    assert "test mode" in result.stdout and "secret key" in result.stdout
    sent = [r for r, _ in httpserver.log if r.path == "/v1/customers"][0]
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.args["limit"] == "1"


def test_connect_with_a_rejected_key_says_so(cli, httpserver):
    httpserver.expect_request("/v1/customers").respond_with_json(
        {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_***"}},
        status=401)
    result = cli("connect", env={"STRIPE_API_KEY": KEY, "STRIPE_API_BASE": httpserver.url_for("")})
    assert result.returncode == 2
    assert "Stripe rejected the key" in result.stderr
    assert "Traceback" not in result.stderr and KEY not in result.stderr + result.stdout


def test_connect_with_a_restricted_key_names_the_missing_permission(cli, httpserver):
    message = ("The provided key 'rk_test_***' does not have the required permissions for this "
               "endpoint. Having the 'rak_customer_read' permission would allow this request.")
    httpserver.expect_request("/v1/customers").respond_with_json(
        {"error": {"type": "invalid_request_error", "message": message}}, status=403)
    result = cli("connect", env={"STRIPE_API_KEY": "rk_test_restricted0123456789",
                                 "STRIPE_API_BASE": httpserver.url_for("")})
    assert result.returncode == 2
    assert "rak_customer_read" in result.stderr and "permission" in result.stderr
    assert "rk_test_restricted0123456789" not in result.stderr


def test_connect_without_a_key_names_the_variable(cli):
    result = cli("connect")
    assert result.returncode == 2
    assert "STRIPE_API_KEY" in result.stderr and "Traceback" not in result.stderr


def test_connect_to_nothing_says_stripe_cannot_be_reached(cli):
    result = cli("connect", env={"STRIPE_API_KEY": KEY, "STRIPE_API_BASE": "http://127.0.0.1:9"})
    assert result.returncode == 2
    assert "Cannot reach Stripe" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_database_is_one_sentence_naming_database_url(cli):
    result = cli("run", env={"DATABASE_URL": "postgresql://app:s3cretpw@127.0.0.1:1/x"})
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
    assert "s3cretpw" not in result.stderr


def test_unreachable_redis_is_one_sentence_naming_redis_url(cli, sqlite_url):
    result = cli("run", env={"DATABASE_URL": sqlite_url, "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr and "Traceback" not in result.stderr


def test_invalid_setting_is_a_usage_error(cli):
    result = cli("connect", env={"STRIPE_MAX_RPS": "-3"})
    assert result.returncode == 2
    assert "STRIPE_MAX_RPS" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["scheduler", "worker"])
def test_redis_only_processes_refuse_to_start_embedded(cli, command, sqlite_url):
    result = cli(command, env={"DATABASE_URL": sqlite_url})
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr


@pytest.mark.parametrize("command", ["evaluate", "accounts", "report"])
def test_a_malformed_now_is_a_usage_error_naming_the_option(cli, command, sqlite_url):
    result = cli(command, "--now", "next tuesday", env={"DATABASE_URL": sqlite_url})
    assert result.returncode == 2
    assert "--now 'next tuesday' is not an ISO-8601 time" in result.stderr and "Traceback" not in result.stderr


def test_connect_names_every_missing_permission_of_a_restricted_key_and_the_webhook_events(cli):
    """The sandbox answers a restricted key's requests as Stripe does (403 naming the
    `rak_…` permission); connect probes every resource the sync reads and names each one."""
    from datetime import datetime, timezone

    from stripe_sandbox import Sandbox
    from worker.sync.source import EVENT_TYPES

    sb = Sandbox(api_key="sk_test_sandbox", start=datetime(2026, 11, 1, tzinfo=timezone.utc))
    partial, full = "rk_test_partial0123456789", "rk_test_full0123456789"
    sb.restricted_keys[partial] = {"customers:read", "prices:read", "events:read"}
    sb.restricted_keys[full] = {f"{r}:read" for r in ("customers", "subscriptions", "subscription_items",
                                                     "prices", "products", "coupons", "events")}
    with sb:
        short = cli("connect", env={"STRIPE_API_KEY": partial, "STRIPE_API_BASE": sb.url})
        fine = cli("connect", env={"STRIPE_API_KEY": full, "STRIPE_API_BASE": sb.url})
    assert short.returncode == 2, short.stdout
    for resource, permission in (("Subscriptions", "rak_subscription_read"), ("Products", "rak_product_read"),
                                 ("Coupons", "rak_coupon_read")):
        assert f"{resource} ({permission})" in short.stderr, short.stderr
    assert "lacks 4 permissions" in short.stderr and "Subscription items" in short.stderr
    assert "Customers (" not in short.stderr and "Events (" not in short.stderr
    assert partial not in short.stderr + short.stdout
    assert fine.returncode == 0, fine.stderr
    assert "restricted key" in fine.stdout and "all granted" in fine.stdout
    assert all(event in fine.stdout for event in EVENT_TYPES)
