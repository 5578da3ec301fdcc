"""`hubspot`: CRM v3 batch upsert of stage, MRR and renewal date, Bearer-authenticated."""

from __future__ import annotations

import json

import pytest

from actions.base import PermanentFailure
from actions.hubspot import HubSpotParams, handler
from tests.actions.conftest import USER

TOKEN = "pat-na1-11111111-2222-3333"


def test_account_upserts_a_company_by_its_contact_id(httpserver, make_ctx):
    httpserver.expect_request("/crm/v3/objects/companies/batch/upsert", method="POST").respond_with_json(
        {"status": "COMPLETE", "results": [{"id": "512"}]}
    )
    params = HubSpotParams.model_validate({"token": TOKEN, "base_url": httpserver.url_for("/")})
    result = handler.run(make_ctx(), params)
    (request, _), = httpserver.log
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.get_data()) == {"inputs": [{
        "idProperty": "lifecycle_contact_id",
        "id": "acme-1",
        "properties": {"stripe_lifecycle_stage": "customer", "stripe_mrr": "150.00",
                       "stripe_renewal_date": "2026-12-01"},
    }]}
    assert result.status_code == 200


def test_user_upserts_a_contact_by_email_with_custom_property_names(httpserver, make_ctx):
    httpserver.expect_request("/crm/v3/objects/contacts/batch/upsert").respond_with_json({"status": "COMPLETE"})
    params = HubSpotParams.model_validate({
        "token": TOKEN,
        "base_url": httpserver.url_for("/"),
        "properties": {"stage": "lifecyclestage", "mrr": "mrr", "renewal_date": None},
        "stage_values": {"customer": "customer", "trial": "opportunity"},
        "extra_properties": {"lifecycle_note": "fired by {{ automation }}"},
    })
    handler.run(make_ctx(contact=USER), params)
    (request, _), = httpserver.log
    assert json.loads(request.get_data())["inputs"] == [{
        "idProperty": "email",
        "id": "ada@acme.example",
        "properties": {"lifecyclestage": "customer", "mrr": "150.00", "lifecycle_note": "fired by renewal-heads-up"},
    }]


def test_multi_status_error_is_permanent(httpserver, make_ctx):
    httpserver.expect_request("/crm/v3/objects/companies/batch/upsert").respond_with_json(
        {"status": "COMPLETE", "errors": [{"category": "VALIDATION_ERROR", "message": "Property stripe_mrr does not exist"}]},
        status=207,
    )
    with pytest.raises(PermanentFailure) as caught:
        handler.run(make_ctx(), HubSpotParams(token=TOKEN, base_url=httpserver.url_for("/")))
    assert "stripe_mrr does not exist" in str(caught.value)


def test_rejected_token_is_permanent_and_not_echoed(httpserver, make_ctx):
    httpserver.expect_request("/crm/v3/objects/companies/batch/upsert").respond_with_data(
        f"Authentication credentials not found: Bearer {TOKEN}", status=401
    )
    with pytest.raises(PermanentFailure) as caught:
        handler.run(make_ctx(), HubSpotParams(token=TOKEN, base_url=httpserver.url_for("/")))
    assert "HTTP 401" in str(caught.value) and TOKEN not in str(caught.value)


def test_contact_without_email_cannot_be_upserted_as_hubspot_contact(make_ctx):
    with pytest.raises(PermanentFailure, match="id property email"):
        handler.run(make_ctx(contact={**USER, "email": None}), HubSpotParams(token=TOKEN))
