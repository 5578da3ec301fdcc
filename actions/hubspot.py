"""`hubspot` action: CRM v3 batch upsert of the contact's stage, MRR and renewal date.

An account becomes a HubSpot company, a user a HubSpot contact (`object_type` overrides).
The record is found by a unique-value property (`id_property`): `email` for contacts; for
companies a custom unique property (default `lifecycle_contact_id`) holding our contact id,
since companies have no unique property out of the box. One request:
`POST {base_url}/crm/v3/objects/{companies|contacts}/batch/upsert` with a Bearer token.
Property names are configurable; a name set to null is not written. `stage_values` maps our
stage names onto an enumeration such as HubSpot's own `lifecyclestage`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from actions.base import ActionContext, ActionParams, ActionResult, PermanentFailure
from actions.fields import HttpURL, Template
from actions.http import scrub, seam_for
from actions.templates import render_param
from worker.core.money import major_units
from worker.logs import register_secrets

DEFAULT_BASE_URL = "https://api.hubapi.com"
COMPANY_ID_PROPERTY = "lifecycle_contact_id"


class PropertyNames(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str | None = "stripe_lifecycle_stage"
    mrr: str | None = "stripe_mrr"
    renewal_date: str | None = "stripe_renewal_date"


class HubSpotParams(ActionParams):
    token: SecretStr
    base_url: HttpURL = DEFAULT_BASE_URL
    object_type: Literal["auto", "companies", "contacts"] = "auto"  # auto: account → companies
    id_property: str | None = None  # default: email (contacts), lifecycle_contact_id (companies)
    id_value: Template | None = None  # default: contact.email for `email`, else contact.contact_id
    properties: PropertyNames = PropertyNames()
    stage_values: dict[str, str] = Field(default_factory=dict)  # our stage → HubSpot value
    extra_properties: dict[str, Template] = Field(default_factory=dict)


def _object_type(ctx: ActionContext, params: HubSpotParams) -> str:
    if params.object_type != "auto":
        return params.object_type
    return "contacts" if ctx.contact.get("contact_type") == "user" else "companies"


def _identity(ctx: ActionContext, params: HubSpotParams, object_type: str) -> tuple[str, str]:
    id_property = params.id_property or ("email" if object_type == "contacts" else COMPANY_ID_PROPERTY)
    if params.id_value:
        value = render_param(ctx.render, "id_value", params.id_value)
    else:
        value = ctx.contact.get("email" if id_property == "email" else "contact_id") or ""
    if not value:
        raise PermanentFailure(f"hubspot upsert needs a value for id property {id_property}; the contact has none")
    return id_property, str(value)


def properties(ctx: ActionContext, params: HubSpotParams) -> dict[str, str]:
    """The property values written (HubSpot takes strings; an empty string clears a value)."""
    names, contact = params.properties, ctx.contact
    values: dict[str, str] = {}
    if names.stage:
        stage = contact.get("stage") or ""
        values[names.stage] = params.stage_values.get(stage, stage)
    if names.mrr:
        mrr = contact.get("mrr") or {}
        values[names.mrr] = str(major_units(int(mrr.get("amount_minor") or 0), mrr.get("currency") or "usd"))
    if names.renewal_date:
        values[names.renewal_date] = (contact.get("renewal_date") or "")[:10]  # YYYY-MM-DD
    for name, template in params.extra_properties.items():
        values[name] = render_param(ctx.render, f"extra_properties.{name}", template)
    return values


def _check_multi_status(body: Any, secrets: list[str]) -> None:
    """A 207 answer carries per-input errors; our one input failing is a permanent failure."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        text = f"{first.get('category', 'error')}: {first.get('message', '')}"[:200]
        raise PermanentFailure(scrub(f"HubSpot upsert rejected the record ({text})", secrets))


class HubSpotHandler:
    name = "hubspot"
    Params = HubSpotParams

    def run(self, ctx: ActionContext, params: HubSpotParams) -> ActionResult:
        token = params.token.get_secret_value()
        register_secrets([token])
        object_type = _object_type(ctx, params)
        id_property, id_value = _identity(ctx, params, object_type)
        body = {"inputs": [{"idProperty": id_property, "id": id_value, "properties": properties(ctx, params)}]}
        url = f"{params.base_url.rstrip('/')}/crm/v3/objects/{object_type}/batch/upsert"
        headers = {"Authorization": f"Bearer {token}"}
        response = seam_for(ctx).post(url, what="HubSpot upsert", json=body, headers=headers, secrets=[token])
        if response.status_code == 207:
            try:
                _check_multi_status(response.json(), [token])
            except ValueError:
                raise PermanentFailure("HubSpot upsert answered 207 with an unreadable body") from None
        return ActionResult(detail=f"HubSpot {object_type} upserted (HTTP {response.status_code})",
                            status_code=response.status_code)


handler = HubSpotHandler()
