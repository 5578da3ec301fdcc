"""The OpenAPI 3.1 document of the console's JSON API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

_ERROR = {"description": "An error sentence", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_401 = {"description": "No session and no valid bearer token"}


def _q(name: str, description: str, schema: dict[str, Any] | None = None, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def _ok(description: str, ref: str | None = None) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ref}"} if ref else {"type": "object"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_PAGE = [_q("page", "1-based page number", {"type": "integer", "minimum": 1, "default": 1}),
         _q("per_page", "rows per page", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50})]

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "stripe-lifecycle console API", "version": "1",
             "description": "Read accounts, deliveries and the report; re-drive or cancel deliveries. "
                            "Authenticate with `Authorization: Bearer <token>` (CONSOLE_API_TOKENS) or a console "
                            "session (then POSTs need the `X-CSRF-Token` header). Money is integer minor units."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                            "session": {"type": "apiKey", "in": "cookie", "name": "lifecycle_console"}},
        "schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
            "Money": {"type": "object", "properties": {"amount_minor": {"type": "integer"}, "currency": {"type": "string"}}},
            "Account": {"type": "object", "description": "One entry of `accounts --json` (PRODUCT.md §3)",
                        "properties": {"contact_id": {"type": ["string", "null"]}, "contact_type": {"type": ["string", "null"]},
                                       "name": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]},
                                       "stripe_customer_ids": {"type": "array", "items": {"type": "string"}},
                                       "stripe_customers": {"type": "array", "items": {
                                           "type": "object", "description": "a Stripe customer and its Stripe account",
                                           "properties": {"id": {"type": "string"}, "account": {"type": "string"}}}},
                                       "stage": {"type": ["string", "null"]}, "mrr": {"$ref": "#/components/schemas/Money"},
                                       "renewal_date": {"type": ["string", "null"], "format": "date-time"},
                                       "subscriptions": {"type": "array", "items": {"type": "object"}}}},
            "AccountPage": {"type": "object", "properties": {
                "accounts": {"type": "array", "items": {"$ref": "#/components/schemas/Account"}},
                "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
                "pages": {"type": "integer"}, "mrr_total": {"type": "array", "items": {"$ref": "#/components/schemas/Money"}},
                "problems": {"type": "array", "items": {"type": "object"}}}},
            "Delivery": {"type": "object", "properties": {
                "id": {"type": "integer"}, "state": {"enum": ["pending", "retrying", "delivered", "dead", "canceled"]},
                "kind": {"type": "string"}, "handler": {"type": "string"}, "target": {"type": "string"},
                "contact_id": {"type": "string"}, "firing_id": {"type": ["integer", "null"]},
                "automation": {"type": ["string", "null"]}, "idempotency_key": {"type": "string"},
                "attempts": {"type": "integer"}, "next_attempt_at": {"type": "string"},
                "last_error": {"type": ["string", "null"]}, "created_at": {"type": "string"},
                "delivered_at": {"type": ["string", "null"]}}},
        },
    },
    "security": [{"bearer": []}, {"session": []}],
    "paths": {
        "/api/accounts": {"get": {
            "summary": "Accounts, paged (the objects of `accounts --json`)",
            "parameters": [_q("q", "search: contact id, name, email or Stripe customer id"),
                           _q("stage", "only this stage (a stage of stages.yaml)"),
                           _q("sort", "contact | mrr | renewal | name", {"enum": ["contact", "mrr", "renewal", "name"]}),
                           _q("order", "asc | desc (mrr defaults to desc)", {"enum": ["asc", "desc"]}),
                           _q("at_risk", "true: only cancellation scheduled, past due, or renewing within `days`"),
                           _q("days", "the at-risk renewal horizon in days", {"type": "integer", "default": 30}), *_PAGE],
            "responses": {"200": _ok("One page and the totals over every match", "AccountPage"),
                          "400": _ERROR, "401": _401, "503": _ERROR}}},
        "/api/accounts/{contact_id}": {"get": {
            "summary": "One account (an object of `accounts --json`)",
            "parameters": [_path("contact_id", "the contact id")],
            "responses": {"200": _ok("The account", "Account"), "404": _ERROR, "401": _401}}},
        "/api/accounts/{contact_id}/timeline": {"get": {
            "summary": "Stage and MRR changes, firings (with arm) and deliveries, newest first",
            "parameters": [_path("contact_id", "the contact id")],
            "responses": {"200": _ok("The events"), "404": _ERROR, "401": _401}}},
        "/api/accounts/{contact_id}/explain": {"get": {
            "summary": "How MRR, renewal date and stage are computed, and why each automation fires or not",
            "parameters": [_path("contact_id", "the contact id")],
            "responses": {"200": _ok("Lines and per-automation checks"), "404": _ERROR, "401": _401}}},
        "/api/deliveries": {"get": {
            "summary": "Deliveries, newest first",
            "parameters": [_q("state", "pending | retrying | delivered | dead | canceled"),
                           _q("contact_id", "only this contact"), _q("handler", "only this handler"), *_PAGE],
            "responses": {"200": _ok("One page of deliveries and the total"), "400": _ERROR, "401": _401}}},
        "/api/deliveries/{id}/retry": {"post": {
            "summary": "Re-drive a dead delivery (same idempotency key); written to the audit log",
            "parameters": [_path("id", "the delivery id")],
            "responses": {"200": _ok("Retried"), "404": _ERROR, "409": _ERROR, "401": _401,
                          "403": {"description": "A session request without the X-CSRF-Token header"}}}},
        "/api/deliveries/{id}/cancel": {"post": {
            "summary": "Cancel a pending or retrying delivery; written to the audit log",
            "parameters": [_path("id", "the delivery id")],
            "responses": {"200": _ok("Canceled"), "404": _ERROR, "409": _ERROR, "401": _401,
                          "403": {"description": "A session request without the X-CSRF-Token header"}}}},
        "/api/report": {"get": {
            "summary": "The `report --json` object (PRODUCT.md §8)",
            "parameters": [_q("since", "YYYY-MM-DD: only firings since then")],
            "responses": {"200": _ok("The report"), "400": _ERROR, "401": _401, "503": _ERROR}}},
        "/api/automations/{name}/explain": {"get": {
            "summary": "Why an automation fired or not for a contact, condition by condition",
            "parameters": [_path("name", "the automation name"), _q("contact_id", "the contact", required=True)],
            "responses": {"200": _ok("The checks"), "404": _ERROR, "401": _401}}},
        "/api/audit": {"get": {"summary": "The latest operator actions (who, when, what)",
                               "responses": {"200": _ok("Entries"), "401": _401}}},
    },
}
