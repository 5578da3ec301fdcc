"""A sandbox account whose 18 months of history are known, and its movements worked out by hand.

Month k (M0 … M17) begins on the 1st, 18 months before the current real month; the account
ends on M17's 3rd, before the real now (the CLI's `sync` reads history up to the real clock).
Every subscription starts at 01:00 on some day of some month, monthly prices renew on that day.

Prices (USD cents unless said): basic 10,000 / month; pro 30,000 / month; seat 2,000 / seat /
month; annual 120,000 / year (10,000 a month); euro 5,000 EUR cents / month (× 1.08 = 5,400
USD cents). Coupon: 20% off, repeating for 3 months. Preset chartmogul (every discount in effect
counts), reporting currency usd.

Who does what (the hand-computed movements are in `EXPECTED`):
- A: M0 d1 basic → new 10,000; M5 d15 upgraded to pro (a proration invoice) → expansion 20,000.
- B: M0 d1 10 seats → new 20,000; M3 d15 down to 6 seats (proration) → contraction 8,000;
  M9 d15 canceled → churn 12,000; M12 d15 a new basic subscription → reactivation 10,000.
- C: M2 d10 trial of pro, converts M2 d24 → new 30,000 (trial → customer).
- D: M6 d10 trial of basic, canceled M6 d20 before it ends (trial → churn, no MRR).
- E: M1 d15 euro plan → new 5,400 (EUR, converted at 1.08).
- F: M4 d15 pro with the 20% coupon → new 24,000; the coupon ends M7 d15 → expansion 6,000.
- G: M1 d15 annual → new 10,000; set to cancel at period end in M10 → churn 10,000 M13 d15.
- H: M8 d15 basic → new 10,000; payment fails M10 d16, past due 5 days → canceled M10 d21,
  churn 10,000.
- J: M14 d10 trial of basic, converts M14 d24 → new 10,000.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stripe_sandbox import Sandbox
from stripe_sandbox.clock import add_months

KINDS = ("new", "expansion", "contraction", "churn", "reactivation")

# month index → {kind: USD cents}, worked out by hand from the story above
EXPECTED = {
    0: {"new": 10000 + 20000},
    1: {"new": 5400 + 10000},
    2: {"new": 30000},
    3: {"contraction": 8000},
    4: {"new": 24000},
    5: {"expansion": 20000},
    7: {"expansion": 6000},
    8: {"new": 10000},
    9: {"churn": 12000},
    10: {"churn": 10000},
    12: {"reactivation": 10000},
    13: {"churn": 10000},
    14: {"new": 10000},
}
# Trailing 12 months as of M17 d3 (the cohort with MRR about M5 d3: A 10,000, B 12,000,
# C 30,000, E 5,400, F 24,000, G 10,000 = 91,400; a year later A 30,000, B 10,000,
# C 30,000, E 5,400, F 30,000, G 0 = 105,400; kept at most what they had: 79,400).
START_TOTAL, END_TOTAL, RETAINED = 91400, 105400, 79400
# Left a trial in the trailing 12 months: D (to churn, M6) and J (to customer, M14).
LEFT_TRIAL, CONVERTED = 2, 1
# Contacts per stage at the end of some months.
STAGES_AT = {2: {"trial": 0, "customer": 5, "churn": 0},   # A B C E G
             6: {"trial": 0, "customer": 6, "churn": 1},   # A B C E F G; D
             17: {"trial": 0, "customer": 6, "churn": 3}}  # A B C E F J; D G H


def base_month(now: datetime) -> datetime:
    """The first instant of the month 18 months before `now`'s month."""
    index = now.year * 12 + now.month - 1 - 18
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def month_name(base: datetime, k: int) -> str:
    return add_months(base, k).strftime("%Y-%m")


class Story:
    """Builds the account on a sandbox by moving its clock through the 18 months."""

    def __init__(self, real_now: datetime) -> None:
        self.base = base_month(real_now)
        self.sb = Sandbox(api_key="sk_test_history", start=self.at(0, 1) - timedelta(minutes=30), seed=19)
        self.end = self.at(17, 3)

    def at(self, month: int, day: int) -> datetime:
        return add_months(self.base, month) + timedelta(days=day - 1, hours=1)

    def go(self, month: int, day: int) -> None:
        self.sb.advance_to(self.at(month, day))

    def customer(self, name: str) -> str:
        return self.sb.create_customer(name=name, email=f"{name.lower()}@example.test",
                                       metadata={"account_id": f"acct-{name}"})["id"]

    def build(self) -> Sandbox:
        sb = self.sb
        product = sb.create_product("Plans")["id"]
        basic = sb.create_price(product, "usd", unit_amount=10000)["id"]
        pro = sb.create_price(product, "usd", unit_amount=30000)["id"]
        seat = sb.create_price(product, "usd", unit_amount=2000)["id"]
        annual = sb.create_price(product, "usd", unit_amount=120000, interval="year")["id"]
        euro = sb.create_price(product, "eur", unit_amount=5000)["id"]
        coupon = sb.create_coupon(percent_off=20, duration="repeating", duration_in_months=3)["id"]
        a, b, c, d, e, f, g, h, j = (self.customer(n) for n in "ABCDEFGHJ")

        self.go(0, 1)
        sub_a = sb.create_subscription(a, [{"price": basic, "quantity": 1}])
        sub_b = sb.create_subscription(b, [{"price": seat, "quantity": 10}])
        self.go(1, 15)
        sb.create_subscription(e, [{"price": euro, "quantity": 1}])
        sub_g = sb.create_subscription(g, [{"price": annual, "quantity": 1}])
        self.go(2, 10)
        sb.create_subscription(c, [{"price": pro, "quantity": 1}], trial_end=self.at(2, 24))
        self.go(3, 15)
        sb.update_subscription(sub_b["id"], items=[{"id": sub_b["items"][0], "quantity": 6}])
        self.go(4, 15)
        sb.create_subscription(f, [{"price": pro, "quantity": 1}], coupon=coupon)
        self.go(5, 15)
        sb.update_subscription(sub_a["id"], items=[{"id": sub_a["items"][0], "price": pro}])
        self.go(6, 10)
        sub_d = sb.create_subscription(d, [{"price": basic, "quantity": 1}], trial_end=self.at(6, 24))
        self.go(6, 20)
        sb.cancel_subscription(sub_d["id"])
        self.go(8, 15)
        sub_h = sb.create_subscription(h, [{"price": basic, "quantity": 1}], past_due_days=5,
                                       past_due_outcome="canceled")
        self.go(9, 15)
        sb.cancel_subscription(sub_b["id"])
        self.go(10, 10)
        sb.update_subscription(sub_g["id"], cancel_at_period_end=True)
        self.go(10, 16)
        sb.fail_payment(sub_h["id"])
        self.go(12, 15)
        sb.create_subscription(b, [{"price": basic, "quantity": 1}])
        self.go(14, 10)
        sb.create_subscription(j, [{"price": basic, "quantity": 1}], trial_end=self.at(14, 24))
        sb.advance_to(self.end)
        return sb

    def expected_movements(self) -> list[dict]:
        """`report --json` movements for M0 … M17, from `EXPECTED`."""
        return [{"month": month_name(self.base, k), **{kind: EXPECTED.get(k, {}).get(kind, 0) for kind in KINDS}}
                for k in range(18)]
