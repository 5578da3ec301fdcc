"""Benchmark (issue #18): CPU of a scheduled evaluation pass when nothing changed, by size.

    PYTHONPATH=$PWD .venv/bin/python -m bench.idle_pass [--sizes 5000 20000] [--pg-url URL]

For each size: a generated sandbox account (in this process, served over HTTP), one full sync
into a fresh SQLite database (or a fresh PostgreSQL database with `--pg-url`), a first (full)
evaluation pass, then two scheduled passes an hour apart with nothing changed in Stripe:
- "scan": the all-contacts digest scan forced (what every scheduled pass did before: it read
  every customer and subscription row to find the changed contacts);
- "queue": the pass as shipped (the contacts the writers queued, due recompute_at, indexed
  time windows; the scan only once `SCAN_EVERY`).
Prints CPU-s (process time of `run_evaluation`, the use-case `stripe-lifecycle evaluate` runs)
and the statements that touched the mirror tables. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from stripe_sandbox import Sandbox, generate_account
from worker.automations.service import run_evaluation
from worker.compute import dirty
from worker.rules.loader import load_rules
from worker.runtime.runtime import Runtime
from worker.settings import load_settings
from worker.store.db import open_store
from worker.stripe_api.transport import StripeApi
from worker.sync.runner import run_sync

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 1, tzinfo=UTC)
MIRROR = ("stripe_customers", "stripe_subscriptions", "subscription_items")
AUTOMATIONS = ("automations:\n  - name: heads-up\n    on: renewal_due\n    within: 7 days\n"
               "    do:\n      - log: {message: hi}\n")


def database(pg_url: str | None, tmp: Path) -> str:
    if not pg_url:
        return f"sqlite:///{tmp / 'lc.db'}"
    name = f"bench_idle_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(sa.engine.make_url(pg_url).set(database=name).render_as_string(hide_password=False))


def one_size(size: int, pg_url: str | None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="idle_pass_"))
    rules = tmp / "rules"
    rules.mkdir()
    for name in ("stages.yaml", "stripe.yaml"):
        shutil.copy(ROOT / "rules" / name, rules / name)
    (rules / "automations.yaml").write_text(AUTOMATIONS)
    sb = Sandbox(api_key="sk_test_sandbox", start=START)
    generate_account(sb, customers=size, invoice_months=0)
    sb.start()
    store = open_store(database(pg_url, tmp))
    settings = load_settings(database_url=str(store.engine.url.render_as_string(hide_password=False)),
                             rules_dir=rules)
    runtime = Runtime(settings, store=store)
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: statements.append(statement.lower()))
    try:
        api = StripeApi.connect(sb.api_key, sb.url)
        started = time.monotonic()
        run_sync(store, api, load_rules(rules, {}).source, full=True, now=sb.clock.now,
                 reconcile_every=timedelta(days=365))
        synced = time.monotonic() - started
        first = _pass(runtime, sb, statements)
        out = {"size": size, "sync_s": synced, "first": first}
        real = dirty.SCAN_EVERY
        dirty.SCAN_EVERY = timedelta(seconds=1)  # every pass scans: the behaviour before the queue
        sb.advance(timedelta(hours=1))
        out["scan"] = _pass(runtime, sb, statements)
        dirty.SCAN_EVERY = real
        sb.advance(timedelta(hours=1))
        out["queue"] = _pass(runtime, sb, statements)
        return out
    finally:
        sb.stop()
        runtime.close() if hasattr(runtime, "close") else None
        store.engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def _pass(runtime: Runtime, sb: Sandbox, statements: list[str]) -> dict:
    statements.clear()
    cpu = time.process_time()
    result = run_evaluation(runtime, sb.clock.now, engine="reference")
    cpu = time.process_time() - cpu
    mirror = sum(1 for s in statements if any(t in s for t in MIRROR))
    return {"cpu": cpu, "contacts": result.contacts, "changed": result.changed, "statements": len(statements),
            "mirror_statements": mirror}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--pg-url", default=None)
    args = parser.parse_args()
    for size in args.sizes:
        out = one_size(size, args.pg_url)
        print(f"{size} customers (full sync {out['sync_s']:.0f} s):", flush=True)
        for name in ("first", "scan", "queue"):
            p = out[name]
            print(f"  {name:5} pass: {p['cpu']:.2f} CPU-s, {p['contacts']} contacts looked at, {p['changed']} "
                  f"recomputed, {p['statements']} statements ({p['mirror_statements']} on the mirror tables)",
                  flush=True)


if __name__ == "__main__":
    main()
