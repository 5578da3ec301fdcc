"""Benchmark: what day-one history adds to the first full sync.

    python -m bench.history_backfill [--customers 50000] [--months 24] [--rps 100]

Builds a sandbox account (default 50,000 customers, ~60,000 subscriptions, each with its
invoices of the last `--months` months), runs the full backfill without history, then the
history phase alone (`run_sync(history=True)`: invoices paged 100 a request, stored, every
contact rebuilt), and prints the extra requests and time. The sandbox runs in this process,
so the wall time is this machine's CPU (client + server + SQLite); against Stripe the rate
limit decides: the extra requests ÷ `STRIPE_MAX_RPS` is printed for `--rps` (Stripe allows
100 read requests/s live, 25 in test mode).
"""

from __future__ import annotations

import argparse
import gc
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.figures import figure
from stripe_sandbox import Sandbox, generate_account
from worker.rules.model import MrrConfig, SourceConfig, StageDef, StagesConfig
from worker.store.db import open_store
from worker.stripe_api.transport import StripeApi
from worker.sync import run_sync

KEY = "sk_test_bench_history"
SOURCE = SourceConfig(mrr=MrrConfig(fx_rates={"eur": 1.08, "gbp": 1.27, "jpy": 0.0067}))
STAGES = StagesConfig(stages={"trial": StageDef(status=["trialing"]),
                              "customer": StageDef(status=["active", "incomplete", "past_due", "unpaid"]),
                              "churn": StageDef(status=["canceled"])}, precedence=["customer", "trial", "churn"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--rps", type=float, default=100.0, help="the Stripe rate to project the time at")
    args = parser.parse_args()
    now = datetime(2026, 11, 1, tzinfo=UTC)
    sandbox = Sandbox(api_key=KEY, start=now, seed=3)
    tick = time.perf_counter()
    account = generate_account(sandbox, customers=args.customers, seed=1, invoice_months=args.months)
    print(f"account: {account['customers']} customers, {account['subscriptions']} subscriptions, "
          f"{account['invoices']} invoices ({time.perf_counter() - tick:.1f} s to generate)", flush=True)
    gc.collect()
    gc.freeze()
    with sandbox, tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        api = StripeApi.connect(KEY, sandbox.url, max_rps=100_000)
        tick = time.perf_counter()
        full = run_sync(store, api, SOURCE, full=True, now=now)
        full_s = time.perf_counter() - tick
        cpu = time.process_time()
        tick = time.perf_counter()
        history = run_sync(store, api, SOURCE, full=False, now=now, history_months=args.months, stages=STAGES,
                           history=True)
        history_s, history_cpu = time.perf_counter() - tick, time.process_time() - cpu
        store.engine.dispose()
    extra = history.requests - 1  # the incremental pass's one events request is not history
    print(f"full backfill without history: {full.requests} requests, {full_s:.1f} s")
    print(f"history ({args.months} months): {history.invoices} invoices in {extra} extra requests, "
          f"{history.history_rows} rows for {history.history_contacts} contacts, {history_s:.1f} s wall, "
          f"{history_cpu:.1f} s CPU (client + in-process sandbox); quarantined {len(history.quarantined)}")
    print(f"at {args.rps:g} requests/s the extra requests take at least {extra / args.rps:.0f} s; "
          f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (this process)")
    figure("history.extra_requests", extra, "requests", label=f"history requests for {args.customers} customers")
    figure("history.invoices", history.invoices, "invoices", label=f"invoices of {args.months} months")
    figure("history.wall_s", history_s, "s", label="history phase, sandbox in process")
    figure("history.at_rate_s", extra / args.rps, "s", label=f"extra requests at {args.rps:g}/s")
    figure("history.backfill_s", full_s, "s", label="full backfill without history (same run)")


if __name__ == "__main__":
    main()
