"""The generator's product catalog: realistic SaaS plans in usd, eur, gbp and jpy (zero-decimal),
with every pricing shape the MRR code must handle, and the coupons that go with them."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from itertools import accumulate

CURRENCIES = ("usd", "eur", "gbp", "jpy")
# Minor units per US cent, roughly: jpy has no minor unit (¥1 ≈ 0.65 ¢ → 1 ¢ ≈ ¥1.5).
SCALE = {"usd": 1.0, "eur": 0.92, "gbp": 0.79, "jpy": 1.5}
MODULES = 12


def pick(rng: random.Random, names: list, cum_weights: list[int]):
    """A weighted choice (like `rng.choices(...)[0]`, cheaper per call)."""
    return names[bisect.bisect(cum_weights, rng.random() * cum_weights[-1])]


def _amount(cents: int, currency: str) -> int:
    scaled = cents * SCALE[currency]
    return int(round(scaled / 100.0)) * 100 if currency != "jpy" else int(round(scaled / 10.0)) * 10


def _tiers(currency: str, rows: list[tuple[int | None, int, int]]) -> list[dict]:
    return [{"up_to": up_to, "unit_amount": _amount(unit, currency),
             "flat_amount": _amount(flat, currency) if flat else None} for up_to, unit, flat in rows]


@dataclass
class Catalog:
    """Prices by (plan name, currency) and coupons by currency (None = any currency)."""

    prices: dict[tuple[str, str], dict] = field(default_factory=dict)
    coupons: dict[str | None, list[dict]] = field(default_factory=dict)

    MAIN = {"starter_monthly": 26, "starter_quarterly": 8, "starter_annual": 10, "starter_weekly": 4,
            "pro_monthly": 20, "pro_annual": 10, "business_volume": 10, "enterprise_graduated": 6,
            "support_flat": 6}
    ADDONS = ("storage_transform", "api_metered", "support_flat", "seats_graduated")

    def lines(self, rng: random.Random, currency: str) -> list[tuple[dict, int]]:
        main = pick(rng, _MAIN_NAMES, _MAIN_CUM)
        lines = [(self.prices[(main, currency)], self._quantity(rng, main))]
        if main.endswith("monthly") and rng.random() < 0.15:
            for addon in rng.sample(self.ADDONS, rng.randint(1, 3)):
                lines.append((self.prices[(addon, currency)], self._quantity(rng, addon)))
        return lines

    def modules_lines(self, rng: random.Random, currency: str) -> list[tuple[dict, int]]:
        """A large subscription: the pro plan plus every module (12+ items)."""
        lines = [(self.prices[("pro_monthly", currency)], rng.randint(5, 40))]
        lines += [(self.prices[(f"module_{m}", currency)], 1) for m in range(MODULES)]
        return lines

    def coupon_for(self, rng: random.Random, currency: str) -> dict:
        return rng.choice(self.coupons[None] + self.coupons.get(currency, []))

    @staticmethod
    def _quantity(rng: random.Random, plan: str) -> int:
        if plan.startswith(("pro", "seats")):
            return rng.randint(1, 25)
        if plan.startswith(("business", "enterprise")):
            return rng.randint(1, 120)
        if plan.startswith("storage"):
            return rng.randint(1, 500)
        return 1


_MAIN_NAMES = list(Catalog.MAIN)
_MAIN_CUM = list(accumulate(Catalog.MAIN.values()))


def _plan_specs(currency: str) -> dict[str, dict]:
    a = lambda cents: _amount(cents, currency)  # noqa: E731 - local shorthand
    return {
        "starter_monthly": {"interval": "month", "unit_amount": a(900)},
        "starter_quarterly": {"interval": "month", "interval_count": 3, "unit_amount": a(2500)},
        "starter_annual": {"interval": "year", "unit_amount": a(9000)},
        "starter_weekly": {"interval": "week", "unit_amount": a(300)},
        "pro_monthly": {"interval": "month", "unit_amount": a(2900)},
        "pro_annual": {"interval": "year", "unit_amount": a(29000)},
        "business_volume": {"interval": "month", "tiers_mode": "volume", "tiers": _tiers(
            currency, [(10, 2000, 0), (50, 1500, 5000), (None, 1000, 10000)])},
        "enterprise_graduated": {"interval": "year", "tiers_mode": "graduated", "tiers": _tiers(
            currency, [(5, 0, 50000), (20, 8000, 0), (None, 6000, 0)])},
        "seats_graduated": {"interval": "month", "tiers_mode": "graduated", "tiers": _tiers(
            currency, [(3, 0, 1000), (None, 700, 0)])},
        "storage_transform": {"interval": "month", "unit_amount": a(500),
                              "transform_quantity": {"divide_by": 100, "round": "up"}},
        "api_metered": {"interval": "month", "unit_amount": a(100), "usage_type": "metered"},
        "support_flat": {"interval": "month", "unit_amount": a(4900)},
        **{f"module_{m}": {"interval": "month", "unit_amount": a(1000 + 100 * m)} for m in range(MODULES)},
    }


def build_catalog(sandbox) -> Catalog:
    """Create products, prices and coupons in `sandbox` (no events) and index them."""
    cat = Catalog()
    products: dict[str, dict] = {}
    for currency in CURRENCIES:
        for name, spec in _plan_specs(currency).items():
            family = name.split("_")[0]
            if family not in products:
                products[family] = sandbox.create_product(family.title(), emit=False)
            cat.prices[(name, currency)] = sandbox.create_price(
                products[family]["id"], currency, lookup_key=f"{name}_{currency}",
                nickname=name.replace("_", " ").title(), emit=False, **spec)
    cat.coupons[None] = [
        sandbox.create_coupon(percent_off=20, duration="repeating", duration_in_months=3,
                              name="Welcome 20%", emit=False),
        sandbox.create_coupon(percent_off=10, duration="forever", name="Partner 10%", emit=False),
        sandbox.create_coupon(percent_off=50, duration="once", name="First month half off", emit=False),
        sandbox.create_coupon(percent_off=12.5, duration="forever", name="Nonprofit 12.5%", emit=False),
    ]
    for currency, amount, duration in (("usd", 500, "forever"), ("eur", 400, "repeating"),
                                       ("gbp", 300, "once"), ("jpy", 1000, "forever")):
        cat.coupons[currency] = [sandbox.create_coupon(
            amount_off=amount, currency=currency, duration=duration,
            duration_in_months=6 if duration == "repeating" else None,
            name=f"{amount} {currency} off", emit=False)]
    return cat
