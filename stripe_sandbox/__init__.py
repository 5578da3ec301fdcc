"""stripe_sandbox — a local Stripe API look-alike for tests, the demo and benchmarks.

Speaks the part of Stripe's API the worker uses, in the current API shape (2026-10-28:
billing periods on subscription items, `discounts` lists whose coupon sits at
`discount.source.coupon`, `price` on items), over real HTTP, with a virtual clock, events for
every change and fault injection. Full guide: docs/sandbox.md.

    from stripe_sandbox import Sandbox, generate_account

    sb = Sandbox(api_key="sk_test_sandbox", start=datetime(2026, 11, 1, tzinfo=UTC))
    generate_account(sb, customers=500, seed=1)      # optional realistic account
    with sb:                                         # start() → sb.url, stop()
        client = stripe.StripeClient(sb.api_key, base_addresses={"api": sb.url})
        ...
        sb.advance(timedelta(days=31))               # renewals, trial ends, cancellations…

Interface: `.start()/.stop()/.url/.api_key`, `.clock.now`, `.advance(delta)`, `.advance_to(dt)`,
`.faults.configure(rate, kinds, seed, slow_seconds, retry_after)` / `.faults.counts`,
`.event_api_version` (set "2024-06-20" to render new event payloads in the legacy shape),
`.restricted_keys[rk] = {"customers:read", …}` (other resources → 403),
`.webhooks.add_endpoint(url, secret=None, events=("*",))` → signed POST of every event,
mutations `create_customer`, `update_customer`, `delete_customer`, `create_product`,
`create_price`, `create_coupon`, `create_subscription`, `update_subscription`,
`cancel_subscription`, `fail_payment`, `pay`, `configure_subscription`, `inject_malformed`,
helpers `retrieve`, `events`; `simulate_activity(sandbox, days, seed)` for day-by-day
upgrades, downgrades, cancellations, payment failures/recoveries and sign-ups.
"""

from stripe_sandbox.sandbox import CURRENT_API_VERSION, Sandbox

__all__ = ["CURRENT_API_VERSION", "Sandbox", "generate_account", "simulate_activity"]


def generate_account(sandbox: Sandbox, customers: int = 100, seed: int = 0, **options: object) -> dict:
    """See `stripe_sandbox.generator.generate_account`."""
    from stripe_sandbox.generator import generate_account as generate

    return generate(sandbox, customers=customers, seed=seed, **options)


def simulate_activity(sandbox: Sandbox, days: int = 30, seed: int = 0, **options: object):
    """See `stripe_sandbox.activity.simulate_activity`."""
    from stripe_sandbox.activity import simulate_activity as simulate

    return simulate(sandbox, days=days, seed=seed, **options)
