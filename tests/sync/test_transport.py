"""The Stripe transport: the rate ceiling holds (retries included), retries follow Stripe's hints."""

from __future__ import annotations

import time

import pytest
from werkzeug import Response

from tests.sync.conftest import api_for
from worker.errors import StripeError
from worker.rules.model import SourceConfig
from worker.stripe_api.ratelimit import RateLimiter
from worker.stripe_api.transport import NotFound, RetryPolicy, StripeApi
from worker.sync import run_sync


def test_the_request_rate_never_exceeds_the_ceiling_even_under_retries(sqlite_store, sandbox):
    sandbox.faults.configure(rate=0.1, kinds=("500", "drop", "429"), seed=5, retry_after=0)
    api = api_for(sandbox, max_rps=10, page_size=25)
    starts: list[float] = []
    send = api._send

    def recording(*args, **kwargs):
        starts.append(time.monotonic())
        return send(*args, **kwargs)

    api._send = recording
    report = run_sync(sqlite_store, api, SourceConfig(), full=True, now=sandbox.clock.now)
    assert report.retries >= 1 and len(starts) == sandbox.faults.requests == report.requests
    assert len(starts) > 20
    for first, eleventh in zip(starts, starts[10:]):
        assert eleventh - first >= 1.0, "11 requests inside one second"


def test_the_limiter_spaces_bursts_by_its_window():
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    starts = []
    for _ in range(6):
        limiter.acquire()
        starts.append(now[0])
    assert starts[:2] == [0.0, 0.0]
    assert all(b - a >= 1.0 for a, b in zip(starts, starts[2:]))


def test_a_ceiling_below_one_request_per_second_spaces_every_request():
    now = [0.0]
    limiter = RateLimiter(0.5, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    limiter.acquire()
    limiter.acquire()
    assert now[0] >= 2.0


def _api(httpserver, sleeps: list[float], attempts: int = 4) -> StripeApi:
    return StripeApi.connect("sk_test_x", httpserver.url_for("").rstrip("/"), max_rps=1000,
                             retry=RetryPolicy(max_attempts=attempts), sleep=sleeps.append)


def test_429_waits_for_retry_after_then_succeeds(httpserver):
    httpserver.expect_ordered_request("/v1/customers").respond_with_json(
        {"error": {"type": "invalid_request_error", "message": "slow down"}}, status=429,
        headers={"Retry-After": "3"})
    httpserver.expect_ordered_request("/v1/customers").respond_with_json({"object": "list", "data": []})
    sleeps: list[float] = []
    assert _api(httpserver, sleeps).get("/v1/customers") == {"object": "list", "data": []}
    assert sleeps == [3.0]


def test_stripe_should_retry_false_is_final(httpserver):
    httpserver.expect_request("/v1/customers").respond_with_json(
        {"error": {"type": "api_error", "message": "nope"}}, status=500, headers={"Stripe-Should-Retry": "false"})
    sleeps: list[float] = []
    with pytest.raises(StripeError):
        _api(httpserver, sleeps).get("/v1/customers")
    assert sleeps == [] and len(httpserver.log) == 1


def test_stripe_should_retry_true_retries_even_a_409(httpserver):
    httpserver.expect_ordered_request("/v1/customers").respond_with_json(
        {"error": {"type": "invalid_request_error", "message": "lock"}}, status=409,
        headers={"Stripe-Should-Retry": "true"})
    httpserver.expect_ordered_request("/v1/customers").respond_with_json({"object": "list", "data": []})
    sleeps: list[float] = []
    _api(httpserver, sleeps).get("/v1/customers")
    assert len(sleeps) == 1


def test_5xx_backs_off_exponentially_and_gives_up_with_a_plain_error(httpserver):
    httpserver.expect_request("/v1/customers").respond_with_response(Response("<html>bad gateway", status=502))
    sleeps: list[float] = []
    with pytest.raises(StripeError) as info:
        _api(httpserver, sleeps, attempts=4).get("/v1/customers")
    assert len(sleeps) == 3 and sleeps[0] < sleeps[2]
    assert "GET /v1/customers" in str(info.value) and "Traceback" not in str(info.value)


def test_a_400_is_not_retried_and_a_404_is_not_found(httpserver):
    httpserver.expect_request("/v1/subscriptions").respond_with_json(
        {"error": {"type": "invalid_request_error", "message": "Bad expand"}}, status=400)
    httpserver.expect_request("/v1/customers/cus_gone").respond_with_json(
        {"error": {"type": "invalid_request_error", "message": "No such customer"}}, status=404)
    sleeps: list[float] = []
    api = _api(httpserver, sleeps)
    with pytest.raises(StripeError, match="400"):
        api.get("/v1/subscriptions")
    with pytest.raises(NotFound):
        api.get("/v1/customers/cus_gone")
    assert api.get_or_none("/v1/customers/cus_gone") is None and sleeps == []


def test_dropped_connections_and_500s_are_retried_over_real_http(sandbox):
    sandbox.faults.configure(rate=0.5, kinds=("500", "drop"), seed=11)
    api = api_for(sandbox, retry=RetryPolicy(max_attempts=12, base_delay=0.01, max_delay=0.05))
    for _ in range(6):
        assert api.get("/v1/customers", {"limit": 3})["object"] == "list"
    assert api.retries >= 2 and sandbox.faults.counts["drop"] + sandbox.faults.counts["500"] == api.retries


def test_a_wrong_key_is_a_plain_401_error(sandbox):
    api = StripeApi.connect("sk_test_wrong", sandbox.url)
    with pytest.raises(StripeError, match="rejected the key") as info:
        api.get("/v1/customers")
    assert "sk_test_wrong" not in str(info.value)


def test_the_sdk_session_takes_proxy_settings_from_the_environment_once(monkeypatch):
    from worker.stripe_api.client import _session

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = _session("https://api.stripe.com")
    assert session.trust_env is False  # not re-read on every request
    assert session.proxies.get("https") == "http://proxy.internal:3128"
    monkeypatch.setenv("NO_PROXY", "api.stripe.com")
    assert "https" not in _session("https://api.stripe.com").proxies


def test_a_get_sends_what_the_sdk_sends_and_parses_the_body(httpserver):
    """The transport calls the SDK's requestor itself (to parse with orjson): authentication,
    the pinned API version and the query string must still be what `raw_request` sends."""
    import stripe

    body = {"object": "list", "data": [{"id": "cus_1", "metadata": {"a": "é"}, "amount": 12345678901234}],
            "has_more": False}
    httpserver.expect_request("/v1/customers").respond_with_json(body)
    api = _api(httpserver, [])
    assert api.get("/v1/customers", {"limit": 3, "expand": ["data.discount"]}) == body
    request = httpserver.log[0][0]
    assert request.headers["Authorization"] == "Bearer sk_test_x"
    assert request.headers["Stripe-Version"] == stripe.api_version
    assert request.args.get("limit") == "3" and request.args.get("expand[0]") == "data.discount"


def test_a_body_that_is_not_json_is_retried_then_named(httpserver):
    httpserver.expect_request("/v1/customers").respond_with_data("<html>proxy</html>", status=200)
    sleeps: list[float] = []
    with pytest.raises(StripeError):
        _api(httpserver, sleeps, attempts=2).get("/v1/customers")
    assert len(httpserver.log) == 2 and len(sleeps) == 1
