"""MRR as Stripe bills it, through the real commands: `sync --full`, incremental `sync` over HTTP
against the sandbox (which returns includable fields only when expanded, like Stripe), then
`accounts --json`, on SQLite and PostgreSQL.

Each contact pins one rule that today's account data depends on and that a kind sandbox used
to hide (issue #13): product-limited coupons (`applies_to`), coupon and price
`currency_options`, customer-level discounts (and the subscription's own taking precedence),
tiers inside currency options, zero- and three-decimal currencies, more than 10 items,
sub-cent decimals and half-even ties. Expected values are worked out by hand from Stripe's
rules, not from the code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from stripe_sandbox import Sandbox
from stripe_sandbox.api import Api

START = datetime(2026, 11, 1, tzinfo=UTC)
NOW_ARG = ("--now", "2026-11-15T12:00:00Z")
RULES = {
    "stripe.yaml": "contacts: {type: account, id_metadata_key: account_id, create_missing: true}\n"
                   "mrr: {preset: stripe, currency: usd, fx_rates: {eur: 1.08}}\n",
    "stages.yaml": "stages:\n  trial: {status: [trialing]}\n"
                   "  customer: {status: [active, incomplete, incomplete_expired, past_due, unpaid]}\n"
                   "  churn: {status: [canceled]}\nprecedence: [customer, trial, churn]\n",
}

#: contact → (MRR minor units, currency) as Stripe bills it
EXPECTED = {
    "product-limited": (2000, "usd"),     # Pro 20.00 at 50% (coupon limited to Pro) + Base 10.00
    "coupon-currency": (9100, "eur"),     # EUR 100.00 − the USD coupon's EUR option 9.00
    "price-currency": (900, "eur"),       # a USD 10.00 price's EUR option 9.00
    "customer-discount": (8000, "usd"),   # 100.00 − the customer's forever 20%
    "own-discount-wins": (9000, "usd"),   # the subscription's 10% replaces the customer's 20%
    "option-tiers": (8000, "eur"),        # EUR tiers: 10 × 5.00 + flat 10.00, then 5 × 4.00
    "yen-tie": (22, "jpy"),               # ¥25 − 10% = ¥22.5 → ¥22 (half to even)
    "dinar-tie": (6172, "bhd"),           # 12.345 BHD − 50% = 6.1725 → 6.172 BHD
    "many-items": (12512, "kwd"),         # 13 × 1.001 KWD, 50% off item 13's product only → 12.5125 → 12.512
    "sub-cent": (12, "usd"),              # unit_amount_decimal 12.5 cents → 12 (half to even)
    "item-level": (1600, "usd"),          # item coupons first (Pro only), then the customer's 20%
}


def _catalog(sb: Sandbox) -> dict:
    """Products, prices and coupons shared by the contacts (ids by role)."""
    pro, base, seats = (sb.create_product(n)["id"] for n in ("Pro", "Base", "Seats"))
    c = {"pro": pro, "base": base, "seats": seats}
    c["pro_usd"] = sb.create_price(pro, "usd", unit_amount=2000, currency_options={"eur": {"unit_amount": 1800}})["id"]
    c["base_usd"] = sb.create_price(base, "usd", unit_amount=1000, currency_options={"eur": {"unit_amount": 900}})["id"]
    c["eur_100"] = sb.create_price(base, "eur", unit_amount=10000)["id"]
    c["usd_100"] = sb.create_price(base, "usd", unit_amount=10000)["id"]
    c["tiers"] = sb.create_price(
        seats, "usd", tiers_mode="graduated",
        tiers=[{"up_to": 10, "unit_amount": 600, "flat_amount": 1200}, {"up_to": None, "unit_amount": 450}],
        currency_options={"eur": {"tiers": [{"up_to": 10, "unit_amount": 500, "flat_amount": 1000},
                                            {"up_to": None, "unit_amount": 400}]}})["id"]
    c["jpy"] = sb.create_price(base, "jpy", unit_amount=25)["id"]
    c["bhd"] = sb.create_price(base, "bhd", unit_amount=12345)["id"]
    c["kwd"] = [sb.create_price(sb.create_product(f"Module {i}")["id"], "kwd", unit_amount=1001)
                for i in range(13)]
    c["decimal"] = sb.create_price(base, "usd", unit_amount_decimal="12.5")["id"]
    c["pro50"] = sb.create_coupon(percent_off=50, duration="forever", applies_to={"products": [pro]})["id"]
    c["usd10_eur9"] = sb.create_coupon(amount_off=1000, currency="usd", duration="forever",
                                       currency_options={"eur": {"amount_off": 900}})["id"]
    c["cust20"] = sb.create_coupon(percent_off=20, duration="forever")["id"]
    c["sub10"] = sb.create_coupon(percent_off=10, duration="forever")["id"]
    c["half"] = sb.create_coupon(percent_off=50, duration="forever")["id"]
    c["module12_half"] = sb.create_coupon(percent_off=50, duration="forever",
                                          applies_to={"products": [c["kwd"][12]["product"]]})["id"]
    return c


def _customer(sb: Sandbox, contact: str, coupon: str | None = None) -> str:
    return sb.create_customer(email=f"{contact}@example.test", name=contact, metadata={"account_id": contact},
                              coupon=coupon)["id"]


def _account(sb: Sandbox) -> dict:
    c = _catalog(sb)
    sub = sb.create_subscription
    sub(_customer(sb, "product-limited"), [{"price": c["pro_usd"]}, {"price": c["base_usd"]}], coupon=c["pro50"])
    sub(_customer(sb, "coupon-currency"), [{"price": c["eur_100"]}], coupon=c["usd10_eur9"])
    sub(_customer(sb, "price-currency"), [{"price": c["base_usd"]}], currency="eur")
    sub(_customer(sb, "customer-discount", c["cust20"]), [{"price": c["usd_100"]}])
    sub(_customer(sb, "own-discount-wins", c["cust20"]), [{"price": c["usd_100"]}], coupon=c["sub10"])
    sub(_customer(sb, "option-tiers"), [{"price": c["tiers"], "quantity": 15}], currency="eur")
    sub(_customer(sb, "yen-tie", c["sub10"]), [{"price": c["jpy"]}])
    sub(_customer(sb, "dinar-tie"), [{"price": c["bhd"]}], coupon=c["half"])
    sub(_customer(sb, "many-items"), [{"price": p["id"]} for p in c["kwd"]], coupon=c["module12_half"])
    sub(_customer(sb, "sub-cent"), [{"price": c["decimal"]}])
    # item-level: the Pro item's own 50% (Pro only) applies; the Base item's copy does not (not Pro);
    # the customer's 20% then applies to the whole (the subscription has no discount of its own):
    # (20.00 × 50% + 10.00) × 80% = 16.00
    sub(_customer(sb, "item-level", c["cust20"]),
        [{"price": c["pro_usd"], "coupons": [c["pro50"]]}, {"price": c["base_usd"], "coupons": [c["pro50"]]}])
    return c



@pytest.fixture
def recorded(monkeypatch) -> list[tuple[str, str, dict]]:
    """Every request the sandbox answers: (method, path, params)."""
    calls: list[tuple[str, str, dict]] = []
    original = Api.handle

    def handle(self, method, path, params, version=None):  # noqa: ANN001
        calls.append((method, path, params))
        return original(self, method, path, params, version)

    monkeypatch.setattr(Api, "handle", handle)
    return calls


@pytest.fixture
def world(tmp_path, database_url, recorded):
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in RULES.items():
        (rules / name).write_text(text)
    sb = Sandbox(api_key="sk_test_semantics", start=START, seed=13)
    catalog = _account(sb)
    with sb:
        env = {"STRIPE_API_KEY": sb.api_key, "STRIPE_API_BASE": sb.url, "DATABASE_URL": database_url,
               "RULES_DIR": str(rules), "STRIPE_MAX_RPS": "500"}
        yield sb, env, catalog


def _accounts(cli, env) -> dict[str, tuple[int, str]]:
    result = cli("accounts", "--json", *NOW_ARG, env=env)
    assert result.returncode == 0, result.stderr
    return {c["contact_id"]: (c["mrr"]["amount_minor"], c["mrr"]["currency"]) for c in json.loads(result.stdout)}


def _expand_paths(calls) -> list[str]:
    paths = []
    for _method, _path, params in calls:
        value = params.get("expand") or []
        paths.extend(value if isinstance(value, list) else [value])
    return paths


@pytest.mark.slow
def test_full_then_incremental_sync_gives_stripes_mrr(cli, world, recorded):
    sb, env, catalog = world
    full = cli("sync", "--full", env=env, timeout=120)
    assert full.returncode == 0, full.stderr
    assert _accounts(cli, env) == EXPECTED
    explained = cli("accounts", "--explain", "customer-discount", *NOW_ARG, env=env)
    assert explained.returncode == 0, explained.stderr
    assert "customer-level discount of cus_" in explained.stdout and "100.00 USD → 80.00 USD" in explained.stdout

    # changes after the backfill arrive through events: a customer discount applied later, and
    # a product-limited coupon the backfill never listed (read by id, with its applies_to)
    sb.advance(timedelta(hours=1))
    late = sb.create_coupon(percent_off=25, duration="forever", applies_to={"products": [catalog["base"]]})
    customer = next(c for c in sb.store["customer"].objects.values() if c["metadata"]["account_id"] == "sub-cent")
    sb.set_customer_coupon(customer["id"], late["id"])
    sb.create_subscription(_customer(sb, "late-limited"), [{"price": catalog["pro_usd"]},
                                                            {"price": catalog["base_usd"]}], coupon=late["id"])
    incremental = cli("sync", env=env, timeout=120)
    assert incremental.returncode == 0, incremental.stderr
    after = _accounts(cli, env)
    assert after["late-limited"] == (2750, "usd")   # 20.00 + 10.00 − 25% of Base only
    assert after["sub-cent"] == (9, "usd")          # 12.5 × 75% = 9.375 → 9
    assert {k: v for k, v in after.items() if k not in ("late-limited", "sub-cent")} == \
        {k: v for k, v in EXPECTED.items() if k != "sub-cent"}

    # every request stayed within Stripe's 4-level expansion limit (counting `data.`), and the
    # includable fields were asked for
    paths = _expand_paths(recorded)
    assert paths and max(len(p.split(".")) for p in paths) <= 4
    assert {"data.applies_to", "data.currency_options", "data.tiers"} <= set(paths)


def test_sync_names_currencies_without_an_fx_rate(cli, world):
    _sb, env, _catalog = world
    result = cli("sync", "--full", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "No FX rate in stripe.yaml for BHD, JPY, KWD" in result.stdout
    check = cli("check", env=env)
    assert check.returncode == 0, check.stderr
    assert "BHD, JPY, KWD" in check.stdout and "mrr.fx_rates" in check.stdout
