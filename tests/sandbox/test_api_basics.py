"""The sandbox over real HTTP with the real stripe SDK: paging, status filter, retrieve,
events and authentication behave like Stripe's API."""

from __future__ import annotations

import json

import pytest
import stripe

from stripe_sandbox import Sandbox


def _raw(client: stripe.StripeClient, path: str, **params) -> dict:
    return json.loads(client.raw_request("get", path, **params).body)


def _catalog(sandbox: Sandbox) -> dict:
    product = sandbox.create_product("Pro")
    return sandbox.create_price(product["id"], "usd", unit_amount=2500)


def test_customer_paging_forward_and_backward_is_exact(sandbox, client):
    created = [sandbox.create_customer(email=f"c{i}@x.test")["id"] for i in range(263)]
    newest_first = list(reversed(created))

    forward, after = [], None
    while True:
        page = _raw(client, "/v1/customers", limit=100, **({"starting_after": after} if after else {}))
        forward += [c["id"] for c in page["data"]]
        assert page["object"] == "list" and page["url"] == "/v1/customers"
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert forward == newest_first

    backward, before = [], created[0]  # the oldest: everything is newer
    while True:
        page = _raw(client, "/v1/customers", limit=37, ending_before=before)
        ids = [c["id"] for c in page["data"]]
        backward = ids + backward
        if not page["has_more"]:
            break
        before = ids[0]
    assert backward == newest_first[:-1]


def test_auto_paging_through_the_sdk_sees_every_customer_once(sandbox, client):
    ids = {sandbox.create_customer()["id"] for _ in range(25)}
    seen = [c.id for c in client.v1.customers.list({"limit": 7}).auto_paging_iter()]
    assert sorted(seen) == sorted(ids)


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_out_of_range_is_a_400_invalid_request(client, limit):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.customers.list({"limit": limit})
    assert info.value.http_status == 400
    assert info.value.param == "limit"


def test_subscription_list_hides_canceled_unless_status_all(sandbox, client):
    price = _catalog(sandbox)
    customer = sandbox.create_customer()["id"]
    live = sandbox.create_subscription(customer, [{"price": price["id"]}])["id"]
    gone = sandbox.create_subscription(customer, [{"price": price["id"]}])["id"]
    sandbox.cancel_subscription(gone)

    default = [s["id"] for s in _raw(client, "/v1/subscriptions")["data"]]
    everything = [s["id"] for s in _raw(client, "/v1/subscriptions", status="all", limit=100)["data"]]
    canceled = [s["id"] for s in _raw(client, "/v1/subscriptions", status="canceled")["data"]]
    assert default == [live]
    assert everything == [gone, live]
    assert canceled == [gone]
    assert [s["id"] for s in _raw(client, "/v1/subscriptions", customer=customer, status="all")["data"]] == [gone, live]


def test_retrieve_unknown_is_404_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.subscriptions.retrieve("sub_nope")
    assert info.value.http_status == 404
    assert info.value.code == "resource_missing"


def test_wrong_key_gets_401_in_stripes_error_shape(sandbox):
    bad = stripe.StripeClient("sk_test_wrong_key_123456", base_addresses={"api": sandbox.url})
    with pytest.raises(stripe.AuthenticationError) as info:
        bad.v1.customers.list({"limit": 1})
    assert info.value.http_status == 401
    assert info.value.json_body["error"]["type"] == "invalid_request_error"
    assert "sk_test_wrong_key_123456" not in info.value.json_body["error"]["message"]


def test_account_endpoint_answers(client):
    account = _raw(client, "/v1/account")
    assert account["object"] == "account" and account["id"].startswith("acct_")


def test_deleting_a_customer_cancels_its_subscriptions_and_emits_events(sandbox, client):
    price = _catalog(sandbox)
    customer = sandbox.create_customer(metadata={"account_id": "acme"})["id"]
    sub = sandbox.create_subscription(customer, [{"price": price["id"]}])["id"]

    deleted = client.v1.customers.delete(customer)

    assert deleted.deleted is True and deleted.id == customer
    assert client.v1.customers.retrieve(customer).to_dict().get("deleted") is True
    assert client.v1.subscriptions.retrieve(sub).status == "canceled"
    assert customer not in [c["id"] for c in _raw(client, "/v1/customers")["data"]]
    types = [e["type"] for e in _raw(client, "/v1/events", limit=3)["data"]]
    assert types == ["customer.deleted", "customer.subscription.deleted", "customer.subscription.created"]


def test_customer_create_and_update_over_http_emit_events(sandbox, client):
    customer = client.v1.customers.create({"email": "a@x.test", "metadata": {"account_id": "acme"}})
    client.v1.customers.update(customer.id, {"metadata": {"account_id": "globex"}})

    events = _raw(client, "/v1/events", limit=2)["data"]
    assert [e["type"] for e in events] == ["customer.updated", "customer.created"]
    assert events[0]["data"]["object"]["metadata"] == {"account_id": "globex"}
    assert events[0]["data"]["previous_attributes"] == {"metadata": {"account_id": "acme"}}
    assert events[1]["data"]["object"]["metadata"] == {"account_id": "acme"}


def test_restricted_key_gets_403_naming_the_missing_permission(sandbox):
    sandbox.restricted_keys["rk_test_readonly_customers"] = {"customers:read"}
    restricted = stripe.StripeClient("rk_test_readonly_customers", base_addresses={"api": sandbox.url})
    assert restricted.v1.customers.list({"limit": 1}).data == []
    with pytest.raises(stripe.PermissionError) as info:
        restricted.v1.subscriptions.list({"limit": 1})
    assert info.value.http_status == 403
    assert "rak_subscription_read" in info.value.json_body["error"]["message"]


def test_stripe_version_header_is_echoed(sandbox, client):
    response = client.raw_request("get", "/v1/customers", limit=1)
    assert response.headers["Stripe-Version"] == "2026-10-28.endive"
    assert response.headers["Request-Id"].startswith("req_")


def test_subscription_list_filters_by_price(sandbox, client):
    cheap, dear = _catalog(sandbox), _catalog(sandbox)
    customer = sandbox.create_customer()["id"]
    with_cheap = sandbox.create_subscription(customer, [{"price": cheap["id"]}])["id"]
    sandbox.create_subscription(customer, [{"price": dear["id"]}])
    listed = _raw(client, "/v1/subscriptions", price=cheap["id"])["data"]
    assert [s["id"] for s in listed] == [with_cheap]


def test_empty_metadata_param_unsets_all_keys(sandbox, client):
    customer = client.v1.customers.create({"metadata": {"account_id": "acme", "segment": "smb"}})
    client.v1.customers.update(customer.id, {"metadata": {"segment": ""}})
    assert client.v1.customers.retrieve(customer.id).metadata.to_dict() == {"account_id": "acme"}
    client.raw_request("post", f"/v1/customers/{customer.id}", metadata="")
    assert client.v1.customers.retrieve(customer.id).metadata.to_dict() == {}


def test_concurrent_readers_and_writers_see_consistent_pages(sandbox):
    import threading

    for _ in range(150):
        sandbox.create_customer()
    errors: list[BaseException] = []

    def read() -> None:
        client = stripe.StripeClient(sandbox.api_key, base_addresses={"api": sandbox.url})
        try:
            for _ in range(3):
                ids = [c.id for c in client.v1.customers.list({"limit": 50}).auto_paging_iter()]
                assert len(ids) == len(set(ids)) >= 150
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    for n in range(30):
        sandbox.create_customer(metadata={"n": str(n)})
    for thread in readers:
        thread.join(timeout=60)
    assert errors == []
    assert len(sandbox.events("customer.created")) == 180


def test_cached_pages_follow_changes_and_drop_caches(sandbox, client):
    customer = sandbox.create_customer(email="old@x.test")["id"]
    assert _raw(client, "/v1/customers")["data"][0]["email"] == "old@x.test"
    sandbox.update_customer(customer, email="new@x.test")
    assert _raw(client, "/v1/customers")["data"][0]["email"] == "new@x.test"
    sandbox.drop_caches()
    assert _raw(client, f"/v1/customers/{customer}")["email"] == "new@x.test"
