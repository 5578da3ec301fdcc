"""`python -m stripe_sandbox`: serve a generated sandbox account until Ctrl-C (for humans)."""

from __future__ import annotations

import argparse
import threading
import time
from datetime import UTC, datetime

from stripe_sandbox.generator import generate_account
from stripe_sandbox.sandbox import Sandbox


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stripe_sandbox",
                                     description="Serve a local Stripe API sandbox with a generated account.")
    parser.add_argument("--customers", type=int, default=500, help="customers to generate (default 500)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--port", type=int, default=12111, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--api-key", default="sk_test_sandbox", help="the key clients must send")
    parser.add_argument("--start", default=None,
                        help="virtual start time, ISO 8601 (default: now, UTC, whole seconds)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests to fault (0..1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    start = datetime.fromisoformat(args.start) if args.start else datetime.now(UTC).replace(microsecond=0)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    sandbox = Sandbox(api_key=args.api_key, start=start, seed=args.seed, port=args.port)
    began = time.perf_counter()
    summary = generate_account(sandbox, customers=args.customers, seed=args.seed)
    if args.fault_rate:
        sandbox.faults.configure(rate=args.fault_rate, seed=args.seed)
    url = sandbox.start()
    print(f"Stripe sandbox at {url}  (generated {summary['customers']} customers, "
          f"{summary['subscriptions']} subscriptions in {time.perf_counter() - began:.1f}s)")
    print(f"  STRIPE_API_BASE={url}")
    print(f"  STRIPE_API_KEY={sandbox.api_key}")
    print(f"  virtual now: {sandbox.clock.now.isoformat()}   Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopping")
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
