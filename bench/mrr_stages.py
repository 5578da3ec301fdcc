"""Benchmark: MRR + stage per contact in the pure core, then the whole contact snapshot.

    python -m bench.mrr_stages [--contacts 100000] [--preset stripe] [--mix stress|typical]

Builds `--contacts` contacts in memory, each with one to three subscriptions in the current
Stripe shape (monthly, quarterly, yearly and weekly per-unit prices, volume and graduated
tiers, transform_quantity, forever/repeating coupons, EUR/USD/JPY, every status), then times
(1) MRR + stage: `subscription_mrr` per subscription, `contact_mrr` (FX included) and the stage
(goal ≥ 50,000 contacts/s), and (2) the whole `contact_snapshot` (adds renewal dates, plans,
metadata and the snapshot objects). `--mix typical` keeps per-unit prices only and coupons on
10% of the subscriptions (the default `stress` mix is the one described above). Building the
input is not timed; no database.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import datetime, timezone
from decimal import Decimal

from bench.figures import figure
from worker.core.accounts import ContactInfo, contact_snapshot
from worker.core.money import FxTable
from worker.core.mrr import contact_mrr, subscription_mrr
from worker.core.stages import StageRules
from worker.rules.model import StageDef, StagesConfig

NOW = datetime(2026, 11, 15, tzinfo=timezone.utc)
T = int(NOW.timestamp())
STAGES = StagesConfig(
    stages={"trial": StageDef(status=["trialing"]),
            "customer": StageDef(status=["active", "incomplete", "incomplete_expired", "past_due", "unpaid"]),
            "churn": StageDef(status=["canceled"])},
    precedence=["customer", "trial", "churn"],
)
STATUSES = ["active"] * 6 + ["trialing", "past_due", "canceled", "canceled", "unpaid", "paused"]
TIERS = [{"up_to": 5, "unit_amount_decimal": "1000", "flat_amount_decimal": "0"},
         {"up_to": 20, "unit_amount_decimal": "800", "flat_amount_decimal": "500"},
         {"up_to": None, "unit_amount_decimal": "600", "flat_amount_decimal": "1000"}]


def _price(rng: random.Random, currency: str, kinds: int) -> dict:
    kind = rng.randrange(kinds)
    recurring = {"interval": rng.choice(["month", "month", "year", "week"]), "interval_count": rng.choice([1, 1, 3]),
                 "usage_type": "licensed"}
    base = {"id": f"price_{kind}_{currency}", "object": "price", "currency": currency, "product": f"prod_{kind}",
            "lookup_key": f"plan-{kind}", "recurring": recurring, "tax_behavior": "exclusive",
            "billing_scheme": "per_unit", "unit_amount_decimal": str(rng.randrange(500, 50000)),
            "transform_quantity": None, "tiers_mode": None}
    if kind == 4:
        base.update(billing_scheme="tiered", tiers_mode=rng.choice(["volume", "graduated"]), tiers=TIERS,
                    unit_amount_decimal=None)
    elif kind == 5:
        base["transform_quantity"] = {"divide_by": 10, "round": rng.choice(["up", "down"])}
    return base


def _discounts(rng: random.Random, share: float) -> list:
    if rng.random() > share:
        return []
    coupon = {"id": "C", "object": "coupon", "duration": rng.choice(["forever", "repeating"]),
              "percent_off": rng.choice([10, 25, 33.3, None])}
    if coupon["percent_off"] is None:
        coupon.update(amount_off=rng.randrange(100, 3000), currency="usd")
    return [{"id": "di_1", "object": "discount", "start": T - 86400 * 20, "end": T + 86400 * 60,
             "source": {"type": "coupon", "coupon": coupon}}]


#: stress: tiers and transform_quantity on a third of the prices, coupons on 30% of subscriptions;
#: typical: per-unit prices only, coupons on 10% of subscriptions.
MIXES = {"stress": (6, 0.3), "typical": (4, 0.1)}


def build(contacts: int, seed: int = 7, mix: str = "stress") -> list[tuple[ContactInfo, list, list]]:
    kinds, discounted = MIXES[mix]
    rng = random.Random(seed)
    data = []
    for n in range(contacts):
        cid = f"cus_{n}"
        subs = []
        for k in range(rng.choice([1, 1, 1, 2, 2, 3])):
            currency = rng.choice(["usd"] * 8 + ["eur", "jpy"])
            items = [{"id": f"si_{n}_{k}_{i}", "object": "subscription_item", "price": _price(rng, currency, kinds),
                      "quantity": rng.randrange(1, 40), "discounts": [], "tax_rates": [],
                      "current_period_start": T - 86400 * 10, "current_period_end": T + 86400 * rng.randrange(1, 30)}
                     for i in range(rng.choice([1, 1, 2]))]
            subs.append({"id": f"sub_{n}_{k}", "object": "subscription", "customer": cid, "currency": currency,
                         "status": rng.choice(STATUSES), "created": T - 86400 * 100, "start_date": T - 86400 * 100,
                         "cancel_at_period_end": rng.random() < 0.05, "cancel_at": None, "trial_end": None,
                         "discounts": _discounts(rng, discounted), "default_tax_rates": [], "items": {"data": items}})
        customers = [{"id": cid, "name": f"Customer {n}", "email": None, "created": T - 86400 * 300,
                      "metadata": {"account_id": f"acct-{n}"}}]
        data.append((ContactInfo(f"acct-{n}", "account", f"Account {n}", None), customers, subs))
    return data


def _report(what: str, contacts: int, started: float, cpu: float) -> tuple[float, float]:
    """Wall time, and CPU time of this process (fairer on a machine shared with other work)."""
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    print(f"  {what}: {contacts / wall:,.0f} contacts/s wall ({wall:.2f} s), "
          f"{contacts / used:,.0f} contacts/s of CPU ({used:.2f} s)")
    return contacts / wall, contacts / used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--preset", choices=["stripe", "chartmogul"], default="stripe")
    parser.add_argument("--mix", choices=sorted(MIXES), default="stress")
    args = parser.parse_args()
    data = build(args.contacts, mix=args.mix)
    fx = FxTable("usd", {"eur": Decimal("1.08"), "jpy": Decimal("0.0067")})
    rules = StageRules.compile(STAGES)
    subs = sum(len(s) for _, _, s in data)
    print(f"{args.contacts:,} contacts, {subs:,} subscriptions, preset {args.preset}, {args.mix} mix")
    started, cpu = time.perf_counter(), time.process_time()
    total = 0
    for _, _, subscriptions in data:
        mrr = contact_mrr([subscription_mrr(s, args.preset, NOW) for s in subscriptions], fx)
        rules.stage(s["status"] for s in subscriptions)
        total += mrr.minor
    rate, per_cpu = _report("MRR + stage (goal ≥ 50,000 contacts/s)", args.contacts, started, cpu)
    figure("mrr.mrr_and_stage", rate, "contacts/s", goal=">= 50000", met=rate >= 50_000,
           label=f"MRR + stage, pure core ({args.mix} mix)")
    figure("mrr.mrr_and_stage_cpu", per_cpu, "contacts/CPU-s", goal=">= 50000", met=per_cpu >= 50_000,
           label="MRR + stage per second of CPU (independent of other load)")
    started, cpu = time.perf_counter(), time.process_time()
    check = 0
    for info, customers, subscriptions in data:
        check += contact_snapshot(info, customers, subscriptions, preset=args.preset, fx=fx, stages=rules,
                                  now=NOW).snapshot.mrr_minor
    rate, _ = _report("whole contact snapshot (+ renewal, plans, metadata, objects)", args.contacts, started, cpu)
    figure("mrr.contact_snapshot", rate, "contacts/s", label="whole contact snapshot (+ renewal, plans, metadata)")
    assert check == total
    print(f"  total MRR {total / 100:,.2f} USD-equivalent; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (other work on the machine lowers the wall figure)")


if __name__ == "__main__":
    main()
