"""The outbound HTTP seam classifies every outcome, honours Retry-After and leaks no secret."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from email.utils import format_datetime

import pytest
from werkzeug import Response

from actions.base import PermanentFailure, TransientFailure
from actions.http import parse_retry_after, receiver
from tests.actions.conftest import SENT_AT

TOKEN = "tok-3c1b9a7e55d2"


@pytest.mark.parametrize(
    "status, headers, kind, retry_after",
    [
        (400, {}, PermanentFailure, None),
        (401, {}, PermanentFailure, None),
        (404, {}, PermanentFailure, None),
        (410, {}, PermanentFailure, None),
        (302, {"Location": "/elsewhere"}, PermanentFailure, None),
        (408, {}, TransientFailure, None),
        (429, {"Retry-After": "120"}, TransientFailure, 120.0),
        (429, {"Retry-After": format_datetime(SENT_AT + timedelta(seconds=90), usegmt=True)}, TransientFailure, 90.0),
        (429, {}, TransientFailure, None),
        (500, {}, TransientFailure, None),
        (503, {"Retry-After": "7"}, TransientFailure, 7.0),
    ],
)
def test_status_classification(httpserver, seam, status, headers, kind, retry_after):
    httpserver.expect_request("/x").respond_with_data("nope", status=status, headers=headers)
    with pytest.raises(kind) as caught:
        seam.post(httpserver.url_for(f"/x?token={TOKEN}"), what="test call", json={})
    failure = caught.value
    assert failure.retryable is (kind is TransientFailure)
    assert failure.status_code == status
    assert failure.retry_after == retry_after
    assert f"HTTP {status}" in str(failure)
    assert TOKEN not in str(failure)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_success(httpserver, seam, status):
    httpserver.expect_request("/x").respond_with_data("", status=status)
    assert seam.post(httpserver.url_for("/x"), what="test call", json={}).status_code == status


def test_timeout_is_transient(httpserver, seam):
    def slow(request):
        time.sleep(1.0)  # the seam's timeout is 0.5 s
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(TransientFailure) as caught:
        seam.post(httpserver.url_for(f"/slow?token={TOKEN}"), what="test call", json={})
    assert "timed out" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_connection_refused_is_transient(seam):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientFailure) as caught:
        seam.post(f"http://127.0.0.1:{port}/hooks/{TOKEN}", what="test call", json={})
    assert "could not connect" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_secrets_passed_to_the_seam_are_scrubbed_from_echoed_bodies(httpserver, seam):
    httpserver.expect_request("/x").respond_with_data(f"invalid key {TOKEN}", status=403)
    with pytest.raises(PermanentFailure) as caught:
        seam.post(httpserver.url_for("/x"), what="test call", json={}, auth=(TOKEN, ""))
    assert "invalid key ***" in str(caught.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("30", 30.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (format_datetime(SENT_AT + timedelta(minutes=2), usegmt=True), 120.0),
        (format_datetime(SENT_AT - timedelta(minutes=2), usegmt=True), 0.0),  # in the past
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, SENT_AT) == expected


def test_receiver_names_only_the_host():
    assert receiver(f"https://user:{TOKEN}@hooks.example.com:8443/services/{TOKEN}?k={TOKEN}") == (
        "hooks.example.com:8443"
    )
