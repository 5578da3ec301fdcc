"""What the seam puts on the wire, built without the httpx.Client layer: the headers and body
httpx would send, Basic auth, a JSON body, one keep-alive connection reused across requests,
and an httpx.Client (honouring the proxy settings) when a proxy is configured."""

from __future__ import annotations

import base64
import json

from actions.http import USER_AGENT, HttpSeam
from tests.delivery.sink import Sink


def test_a_post_carries_host_length_agent_auth_and_the_callers_headers(httpserver, seam):
    httpserver.expect_request("/in", method="POST").respond_with_data("ok")

    response = seam.post(httpserver.url_for("/in?x=1"), what="test", json={"name": "Ünïcode", "n": 1},
                         headers={"Idempotency-Key": "k-1", "content-type": "application/vnd.test+json"},
                         auth=("user", "pass"))

    assert (response.status_code, response.text) == (200, "ok")
    request, _ = httpserver.log[0]
    assert request.headers["Host"] == f"{httpserver.host}:{httpserver.port}"
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Idempotency-Key"] == "k-1"
    assert request.headers["Content-Type"] == "application/vnd.test+json"  # the caller's header wins
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"user:pass").decode()
    assert int(request.headers["Content-Length"]) == len(request.get_data())
    assert json.loads(request.get_data()) == {"name": "Ünïcode", "n": 1}
    assert request.args["x"] == "1"


def test_requests_to_one_keep_alive_receiver_reuse_one_connection(seam):
    receiver = Sink().start()  # HTTP/1.1 with keep-alive (the werkzeug test server closes)
    try:
        for n in range(3):
            seam.post(receiver.url("/in"), what="test", content=b"x", headers={"Idempotency-Key": f"k{n}"})
        assert receiver.keys() == ["k0", "k1", "k2"]
        assert len(seam._pool.connections) == 1
    finally:
        receiver.stop()


def test_with_a_proxy_in_the_environment_the_seam_uses_httpx_which_honours_it(httpserver, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    httpserver.expect_request("/in").respond_with_data("ok")
    seam = HttpSeam(timeout=0.5)
    try:
        assert seam._client is not None
        assert seam.post(httpserver.url_for("/in"), what="test", content=b"x").status_code == 200
    finally:
        seam.close()
