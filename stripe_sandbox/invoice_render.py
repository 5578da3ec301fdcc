"""Invoice JSON of the sandbox, in the current API shape or the one before 2025-03-31, and
the `GET /v1/invoices` routes (list filters, retrieve, an invoice's `lines`).

Current shape (Stripe's 2025-03-31 "basil" change): the subscription is at
`invoice.parent.subscription_details.subscription`; each line names its item at
`line.parent.subscription_item_details` (`subscription`, `subscription_item`, `proration`) and
its price at `line.pricing.price_details.price`, with `pricing.unit_amount_decimal`; taxes
are `taxes`. Older shape: `invoice.subscription`, `line.subscription`,
`line.subscription_item`, `line.proration`, `line.type = "subscription"`, the full `price`
(and its `plan` mirror) on the line, `tax_amounts`, `invoice.paid`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stripe_sandbox.api_errors import invalid, missing
from stripe_sandbox.forms import as_list
from stripe_sandbox.invoices import INVOICE_STATUSES, LINES_SHOWN, Line
from stripe_sandbox.listing import PageRequest, created_range, page_index, page_sequence
from stripe_sandbox.render import expand_tree, plan_mirror

if TYPE_CHECKING:
    from stripe_sandbox.sandbox import Sandbox


def _line_discounts(sb: Sandbox, line: Line, legacy: bool, tree: dict | None) -> list:
    """The line's discounts: ids, or (`expand[]=…lines.data.discounts`) discount objects."""
    if tree is None:
        return [disc for _, disc in line.discounts]
    if legacy:
        return [sb.renderer._legacy_discount(disc) or disc for _, disc in line.discounts]
    return [sb.renderer.ref("discount", disc, tree) for _, disc in line.discounts]


def line_json(sb: Sandbox, invoice: dict, line: Line, legacy: bool, tree: dict | None = None) -> dict:
    price = sb.store.get("price", line.price) or {}
    out = {
        "id": line.id, "object": "line_item", "amount": line.amount, "currency": invoice["currency"],
        "description": f"{line.quantity} × {line.price}", "discount_amounts": [
            {"amount": amount, "discount": disc} for amount, disc in line.discounts],
        "discountable": True, "discounts": _line_discounts(sb, line, legacy, tree), "invoice": invoice["id"],
        "livemode": False, "metadata": {}, "period": {"start": line.start, "end": line.end},
        "quantity": line.quantity,
    }
    if legacy:
        out.update({
            "amount_excluding_tax": line.amount, "price": dict(price), "plan": plan_mirror(price),
            "proration": line.proration, "proration_details": {"credited_items": None},
            "subscription": invoice["subscription"], "subscription_item": line.item,
            "tax_amounts": [], "tax_rates": [], "type": "subscription",
            "unit_amount_excluding_tax": price.get("unit_amount_decimal")})
        return out
    out.update({
        "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                   "subscription_item_details": {
                       "invoice_item": None, "proration": line.proration,
                       "proration_details": {"credited_items": None},
                       "subscription": invoice["subscription"], "subscription_item": line.item}},
        "pretax_credit_amounts": [{"amount": amount, "credit_balance_transaction": None, "discount": disc,
                                   "type": "discount"} for amount, disc in line.discounts],
        "pricing": {"type": "price_details",
                    "price_details": {"price": line.price, "product": price.get("product")},
                    "unit_amount_decimal": price.get("unit_amount_decimal")},
        "subtotal": line.amount, "taxes": []})
    return out


def _discount_tree(tree: dict | None, where: str) -> dict | None:
    """The expand tree under `lines.data.discounts` (None: not expanded); others are refused."""
    tree = tree or {}
    if set(tree) - {"lines"} or set(tree.get("lines", {})) - {"data"} or \
            set(tree.get("lines", {}).get("data", {})) - {"discounts"}:
        raise invalid(f"This property cannot be expanded on {where}.", "expand")
    return tree.get("lines", {}).get("data", {}).get("discounts")


def invoice_json(sb: Sandbox, invoice: dict, legacy: bool, tree: dict | None = None) -> dict:
    discounts = _discount_tree(tree, "invoice")
    lines = invoice["lines"]
    subtotal = sum(line.amount for line in lines)
    discount = sum(amount for line in lines for amount, _ in line.discounts)
    total = subtotal - discount
    paid = invoice["status"] == "paid"
    due = max(total, 0)
    out = {
        "id": invoice["id"], "object": "invoice", "account_country": "US", "account_name": "Sandbox Inc",
        "amount_due": due, "amount_paid": due if paid else 0, "amount_remaining": 0 if paid else due,
        "attempt_count": invoice["attempt_count"], "attempted": invoice["attempt_count"] > 0,
        "auto_advance": not paid, "billing_reason": invoice["billing_reason"],
        "collection_method": "charge_automatically", "created": invoice["created"],
        "currency": invoice["currency"], "customer": invoice["customer"], "default_tax_rates": [],
        "description": None, "discounts": [], "due_date": None, "effective_at": invoice["created"],
        "ending_balance": 0, "lines": {
            "object": "list", "data": [line_json(sb, invoice, line, legacy, discounts)
                                       for line in lines[:LINES_SHOWN]],
            "has_more": len(lines) > LINES_SHOWN, "url": f"/v1/invoices/{invoice['id']}/lines"},
        "livemode": False, "metadata": {}, "number": invoice["id"][-12:].upper(),
        "period_end": invoice["period_end"], "period_start": invoice["period_start"],
        "starting_balance": 0, "status": invoice["status"], "status_transitions": {
            "finalized_at": invoice["created"], "marked_uncollectible_at": None,
            "paid_at": invoice["created"] if paid else None, "voided_at": None},
        "subtotal": subtotal, "subtotal_excluding_tax": subtotal, "test_clock": None, "total": total,
        "total_discount_amounts": [{"amount": amount, "discount": disc} for line in lines
                                   for amount, disc in line.discounts],
        "total_excluding_tax": total,
    }
    if legacy:
        out.update({"subscription": invoice["subscription"], "paid": paid, "tax": None,
                    "total_tax_amounts": []})
    else:
        out.update({"parent": {"type": "subscription_details", "quote_details": None,
                               "subscription_details": {"metadata": {}, "subscription": invoice["subscription"]}},
                    "total_taxes": []})
    out.update(sb.renderer.overrides.get(invoice["id"]) or {})  # inject_malformed
    return out


def list_invoices(sb: Sandbox, params: dict) -> tuple[list[dict], bool]:
    """One page of `GET /v1/invoices` (newest first)."""
    page = PageRequest.from_params(params)
    status = params.get("status") or None
    if status is not None and status not in INVOICE_STATUSES:
        raise invalid(f"Invalid status: must be one of {', '.join(INVOICE_STATUSES)}", "status")
    collection = sb.store["invoice"]
    lo, hi = created_range(collection, params.get("created"))
    created = params.get("created")

    def accept(invoice: dict) -> bool:
        return status is None or invoice["status"] == status

    sub_id, customer = params.get("subscription") or None, params.get("customer") or None
    if sub_id or customer:
        ids = list(sb.store.invoices_of.get(sub_id, [])) if sub_id else [
            i for s in sb.store.subscriptions_of(customer) for i in sb.store.invoices_of.get(s, [])]
        rows = [collection.objects[i] for i in ids]
        rows = [r for r in rows if not customer or r["customer"] == customer]
        if created not in (None, ""):
            keys = collection.keys
            low = keys[lo] if lo < len(keys) else None
            high = keys[hi - 1] if hi > 0 else None
            rows = [r for r in rows if low is not None and high is not None
                    and low <= collection.key_of[r["id"]] <= high]
        rows.sort(key=lambda r: collection.key_of[r["id"]], reverse=True)
        return page_sequence(rows, page, accept)
    return page_index(collection, page, accept if status else None, lo, hi)


def invoice_lines(sb: Sandbox, invoice_id: str, params: dict, legacy: bool) -> dict:
    """`GET /v1/invoices/{id}/lines`: every line, paged."""
    invoice = sb.store.get("invoice", invoice_id)
    if invoice is None:
        raise missing("invoice", invoice_id)
    page = PageRequest.from_params(params)
    tree = expand_tree(as_list(params.get("expand")), is_list=True)
    if set(tree) - {"discounts"}:
        raise invalid("This property cannot be expanded on an invoice line.", "expand")
    rendered = [line_json(sb, invoice, line, legacy, tree.get("discounts")) for line in invoice["lines"]]
    chunk, has_more = page_sequence(rendered, page)
    return {"object": "list", "data": chunk, "has_more": has_more, "url": f"/v1/invoices/{invoice_id}/lines"}
