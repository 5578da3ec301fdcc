"""Benchmark for issue #18 (scale): backfill vs the ideal at STRIPE_MAX_RPS, PostgreSQL time per
customer at two sizes, requests per change, peak RSS of `accounts --json` and `evaluate`.

    python -m bench.scale [--sizes 5000 20000] [--rps 100] [--endpoint-rps 25] [--pg-url URL]

The sandbox runs in its own process (`python -m stripe_sandbox`), so it does not share the
benchmark's interpreter. For each size: a full backfill into SQLite and into PostgreSQL through
`worker.sync.service.sync_now` over a `Runtime` (the limiter the product uses); the ideal is the requests ÷ the allowed
rate, where one endpoint's requests cannot go faster than STRIPE_ENDPOINT_RPS. Then, on the
PostgreSQL database of the largest size: 50 customers changed in the sandbox, one incremental
sync (requests per change), and the peak RSS of `evaluate` (first pass) and `accounts --json`
as separate processes. Prints the figures; nothing is timed in tests.

The production topology (web + worker + scheduler on PostgreSQL and Redis: freshness, the
processes' peak RSS, idle CPU) and the CLI commands at 300,000 customers are measured by
bench/scale_topology.py, which supersedes the PostgreSQL half of this script.

Why this script once read 0 events at 20,000 customers: a generated account has no events,
and the backfill then started the events cursor on the worker's clock (now − 1 s); the
sandbox's virtual clock does not move by itself, so every later change is dated at the
sandbox's start. With 300 customers the run took seconds and those events fell inside the
60 s overlap; at 20,000 on a loaded machine the sandbox had been up for minutes and they were
older than cursor − 60 s. The sync now starts the cursor on Stripe's clock (0 when the account
has no event: `worker.sync.backfill.stripe_cursor`), and the step reads every event.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import stripe

from worker.settings import load_settings
from worker.stripe_api import ratelimit
from worker.runtime.runtime import Runtime
from worker.sync.service import sync_now

KEY = "sk_test_bench_scale"
ROOT = Path(__file__).resolve().parents[1]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox(customers: int, key: str = KEY) -> tuple[subprocess.Popen, str]:
    """A generated sandbox account in its own process (not sharing the benchmark's interpreter)."""
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "stripe_sandbox", "--customers", str(customers), "--port",
                             str(port), "--api-key", key],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Stripe sandbox at"):
            print("  " + line.strip(), flush=True)
            break
    return proc, f"http://127.0.0.1:{port}"


def fresh_pg(admin_url: str, prefix: str = "bench_scale") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def counting(endpoints: Counter):
    """Wrap the shared limiter so each request's endpoint is counted."""
    real = ratelimit.shared_limiter

    def shared(*args, **kwargs):
        limiter = real(*args, **kwargs)
        if not getattr(limiter, "_counted", False):
            acquire = limiter.acquire

            def counted(endpoint=None):
                endpoints[endpoint] += 1
                return acquire(endpoint)

            limiter.acquire, limiter._counted = counted, True
        return limiter

    return shared


def backfill(url: str, database_url: str, rps: float, endpoint_rps: float, rules: Path) -> dict:
    from worker.runtime import runtime

    endpoints: Counter = Counter()
    ratelimit._shared.clear()
    runtime.shared_limiter = counting(endpoints)  # the runtime builds each account's client
    settings = load_settings(stripe_api_key=KEY, stripe_api_base=url, database_url=database_url,
                             stripe_max_rps=rps, stripe_endpoint_rps=endpoint_rps, rules_dir=rules)
    started = time.perf_counter()
    report = _sync(settings, full=True)
    elapsed = time.perf_counter() - started
    ideal = max(report.requests / rps, max(endpoints.values()) / min(endpoint_rps, rps))
    return {"seconds": elapsed, "requests": report.requests, "ideal": ideal, "customers": report.customers,
            "subscriptions": report.subscriptions, "endpoints": dict(endpoints), "settings": settings}


def requests_per_change(url: str, settings, changes: int) -> dict:
    client = stripe.StripeClient(KEY, base_addresses={"api": url})
    ids = [c.id for c in client.v1.customers.list(params={"limit": changes})]
    for i, cid in enumerate(ids):
        client.v1.customers.update(cid, params={"metadata": {"bench": str(i)}})
        client.v1.customers.update(cid, params={"name": f"Bench {i}"})  # two events per object
    report = _sync(settings, full=False)
    return {"changed": len(ids), "requests": report.requests, "refetched": report.objects_refetched,
            "per_change": report.requests_per_change, "events": report.events_applied}


def peak_rss(args: list[str], env: dict) -> tuple[float, float]:
    """(peak RSS MB, wall s) of one CLI command in its own process."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M", sys.executable, "-m", "worker.cli.main", *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    found = re.search(r"MAXRSS (\d+)", done.stderr)
    return (int(found.group(1)) / 1024 if found else float("nan")), elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--rps", type=float, default=100)
    parser.add_argument("--endpoint-rps", type=float, default=25)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    rules = folder / "rules"
    rules.mkdir()
    for name in ("stages.yaml", "stripe.yaml", "automations.yaml"):
        (rules / name).write_text((ROOT / "rules" / name).read_text())
    print(f"load average before: {os.getloadavg()}")
    last = None
    for size in args.sizes:
        proc, url = start_sandbox(size)
        try:
            for kind in ("sqlite", "postgresql"):
                db = f"sqlite:///{folder / f'{size}.db'}" if kind == "sqlite" else fresh_pg(args.pg_url)
                result = backfill(url, db, args.rps, args.endpoint_rps, rules)
                print(f"backfill {kind} {size} customers ({result['customers']} read, {result['subscriptions']} "
                      f"subscriptions): {result['seconds']:.1f} s, {result['requests']} requests, ideal "
                      f"{result['ideal']:.1f} s -> {result['seconds'] / result['ideal']:.2f}x ideal; "
                      f"{1000 * result['seconds'] / result['customers']:.2f} ms/customer; "
                      f"endpoints {result['endpoints']}", flush=True)
                if kind == "postgresql":
                    last = (url, proc, result["settings"], db)
            if size == args.sizes[-1] and last is not None:
                url, _, settings, db = last
                changed = requests_per_change(url, settings, args.changes)
                print(f"requests per change: {changed}", flush=True)
                env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": db, "RULES_DIR": str(rules),
                       "STRIPE_API_KEY": KEY, "STRIPE_API_BASE": url}
                for command in (["evaluate", "--json"], ["evaluate", "--json"], ["accounts", "--json"]):
                    rss, wall = peak_rss(command, env)
                    print(f"peak RSS {' '.join(command)}: {rss:.0f} MB ({wall:.1f} s)", flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"load average after: {os.getloadavg()}")



def _sync(settings, *, full: bool):
    """One sync now on a runtime of its own (as the `sync` command runs it)."""
    runtime = Runtime(settings)
    try:
        return sync_now(runtime, datetime.now(UTC), full=full)
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
