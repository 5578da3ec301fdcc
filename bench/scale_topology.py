"""Issue #18 scale benchmark on PostgreSQL with the production topology (figures vs goals).

    python -m bench.scale_topology --sizes 30000 300000 [--changes 50] [--poll-changes 20]
        [--sync-every-poll 30] [--idle-seconds 900] [--rps 100] [--endpoint-rps 25]
        [--pg-url URL] [--redis-url URL] [--keep-logs]

For each size, in order, each product command in its own process (peak RSS from
`/usr/bin/time`, the processes' from /proc VmHWM):

1. **Sandbox** (in this process, standing for Stripe): `generate_account(customers=N,
   invoice_months=0)`, every request counted by endpoint. A fresh PostgreSQL database.
2. **Backfill** (after a CHECKPOINT, so earlier steps' writes are not flushed inside it):
   `stripe-lifecycle sync --full --json` (STRIPE_MAX_RPS=100, REDIS_URL set as in
   production, HISTORY_MONTHS=0: the invoice history is bench/history_backfill.py's). Ideal =
   max(requests ÷ STRIPE_MAX_RPS, the busiest endpoint's requests ÷ STRIPE_ENDPOINT_RPS).
3. **Commands**: `evaluate --json` twice (first pass: every contact; next: nothing changed),
   `accounts --json`, `report --json`, `check`.
4. **Requests per change (CLI)**: K customers updated twice and K subscriptions once through
   the sandbox, then `sync --json`: its requests ÷ objects changed.
5. **Topology** (at the largest size only, unless `--topology-at-all-sizes`): `web` (public listener, Stripe webhook), `worker --processes 2 --threads 4`,
   `scheduler` (Procfile), REDIS_URL on a private namespace. A local receiver is the target
   of the only automation (`cancellation_scheduled` → `webhook`). Once settled:
   - **webhooks**: the sandbox posts its events to `/stripe/webhook`; `--changes` subscriptions
     get `cancel_at_period_end=true`, `--spacing` s apart; freshness = receiver arrival − the
     moment the change was made in the sandbox; requests to the sandbox ÷ changes;
   - **idle**: `--idle-seconds` of nothing changing; CPU (utime+stime) of web, worker (its
     dramatiq children included) and scheduler, scaled to an hour;
   - **polling**: webhook endpoint removed, scheduler restarted with SYNC_EVERY=
     `--sync-every-poll`; `--poll-changes` changes spread over the poll interval.
6. Prints each figure beside its goal with met / not met, and the load average.

The machine is shared: every wall-clock figure is inflated by other load (the load average is
printed at every step). Nothing here is timed in tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bench.topology import (ROOT, Receiver, Watch, cli, count_requests, cpu_delta, start_process, stop_process,
                            wait_healthy, wait_quiet)

KEY = "sk_test_bench_topology"
WEBHOOK_SECRET = "whsec_bench_topology_0123456789abcdef"
GOALS = {"backfill_x": 1.25, "per_customer_spread": 0.25, "fresh_webhook_p95": 5.0, "poll_margin": 5.0,
         "per_change": 1.1, "rss_mb": 512.0, "idle_cpu_hour": 60.0}
AUTOMATION = """automations:
  - name: bench-cancellation
    on: cancellation_scheduled
    do:
      - webhook: {{url: "{url}"}}
"""


def say(line: str) -> None:
    print(line, flush=True)


def load() -> str:
    return "load %.2f/%.2f/%.2f" % os.getloadavg()


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def fresh_pg(admin_url: str) -> tuple[str, str]:
    name = f"bench_topo_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def drop_pg(admin_url: str, name: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def clean_redis(url: str, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)


def write_rules(folder: Path, receiver_url: str) -> Path:
    rules = folder / "rules"
    rules.mkdir()
    for name in ("stages.yaml", "stripe.yaml"):
        (rules / name).write_text((ROOT / "rules" / name).read_text())
    (rules / "automations.yaml").write_text(AUTOMATION.format(url=receiver_url))
    return rules


def pick_subscriptions(sandbox, count: int) -> list[str]:
    """Active subscriptions with nothing scheduled and every period ending > 2 days after now
    (so the scheduled cancellation is in the future), of customers that are contacts (they
    carry `metadata.account_id`, stripe.yaml's `id_metadata_key`; ~5% of generated customers
    do not, and no automation fires for them), spread over the whole account."""
    store, now = sandbox.store, sandbox.clock.ts
    items, customers = store["subscription_item"].objects, store["customer"].objects
    fit = [s["id"] for s in store["subscription"].objects.values()
           if s["status"] == "active" and not s.get("cancel_at_period_end") and not s.get("cancel_at")
           and (customers[s["customer"]].get("metadata") or {}).get("account_id")
           and all(int(items[i].get("current_period_end") or 0) > now + 2 * 86400 for i in s["items"])]
    step = max(1, len(fit) // max(1, count))
    return fit[::step][:count]


def stripe_rps_env(args) -> dict[str, str]:
    return {"STRIPE_MAX_RPS": str(args.rps), "STRIPE_ENDPOINT_RPS": str(args.endpoint_rps)}


# --- steps -------------------------------------------------------------------------------------

def checkpoint(admin_url: str) -> None:
    """Start a timed step from a clean checkpoint: the dirty buffers and WAL of the steps (and
    sizes) before it are flushed now instead of in the middle of it. On this machine's
    PostgreSQL (shared_buffers 128 MB, max_wal_size 1 GB) the same 30k backfill took 16.6 s
    right after a CHECKPOINT and up to 21.7 s after three others (its CPU 9.9 → 14.1 s)."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("CHECKPOINT"))
    except sa.exc.DBAPIError as exc:  # not a superuser (nor pg_checkpoint): measure without
        say(f"  (no CHECKPOINT before the backfill: {exc.orig})")
    finally:
        engine.dispose()


def backfill(env, counts, args, logs) -> dict:
    checkpoint(args.pg_url)
    counts.clear()
    own = os.times()
    result = cli(["sync", "--full", "--json"], env, logs, "sync-full")
    result["sandbox_cpu"] = (os.times().user - own.user) + (os.times().system - own.system)
    report = result["json"] or {}
    requests = report.get("requests") or sum(counts.values())
    busiest = max(counts.values()) if counts else 0
    ideal = max(requests / args.rps, busiest / min(args.endpoint_rps, args.rps))
    customers = report.get("customers") or 0
    result.update(requests=requests, ideal=ideal, customers=customers, subscriptions=report.get("subscriptions"),
                  endpoints=dict(counts), ms_per_customer=1000 * result["wall"] / max(1, customers))
    return result


def cli_changes(sandbox, env, counts, changes: int, logs) -> dict:
    """K customers updated twice (two events each) and K subscriptions' metadata once, then one
    incremental `sync --json`: Stripe requests per changed object."""
    customers = list(sandbox.store["customer"].objects)[:: max(1, len(sandbox.store["customer"].objects) // changes)]
    customers = customers[:changes]
    subs = [s for s in pick_subscriptions(sandbox, changes * 3)][-changes:]
    for i, cid in enumerate(customers):
        sandbox.update_customer(cid, metadata={"bench": str(i)})
        sandbox.update_customer(cid, name=f"Bench {i}")
    for i, sid in enumerate(subs):
        sandbox.update_subscription(sid, metadata={"bench": str(i)})
    counts.clear()
    result = cli(["sync", "--json"], env, logs, "sync-changes")
    report = result["json"] or {}
    objects = len(customers) + len(subs)
    result.update(objects=objects, events=report.get("events_applied"), requests=report.get("requests"),
                  sandbox_requests=sum(counts.values()), endpoints=dict(counts),
                  reported_per_change=report.get("requests_per_change"),
                  per_object=(report.get("requests") or 0) / max(1, objects))
    return result


def make_changes(sandbox, receiver, subs: list[str], spacing: float, wait: float) -> dict:
    """Schedule each subscription's cancellation, `spacing` s apart; wait for the arrivals."""
    made: dict[str, float] = {}
    for sid in subs:
        made[sid] = time.time()
        sandbox.update_subscription(sid, cancel_at_period_end=True)
        time.sleep(spacing)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not all(s in receiver.arrivals for s in made):
        time.sleep(0.2)
    lags = [receiver.arrivals[s] - t for s, t in made.items() if s in receiver.arrivals]
    missing = {s: datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S.%f")[:-3]
               for s, t in made.items() if s not in receiver.arrivals}
    return {"made": len(made), "arrived": len(lags), "lags": lags, "missing": missing}


def freshness_line(name: str, res: dict, goal: float) -> str:
    lags = res["lags"]
    if not lags:
        return f"freshness {name}: nothing arrived of {res['made']} changes -- goal p95 <= {goal:.0f} s NOT met"
    p95 = pct(lags, 0.95) if len(lags) == res["made"] else float("inf")
    return (f"freshness {name}: {res['arrived']}/{res['made']} arrived; p50 {statistics.median(lags):.2f} s, "
            f"p95 {pct(lags, 0.95):.2f} s, max {max(lags):.2f} s (goal p95 <= {goal:.0f} s: "
            f"{verdict(p95 <= goal)})" + (f"; never arrived (change made at, UTC): {res['missing']}"
                                          if res["missing"] else ""))


def requests_line(phase: str, counts: dict, changes: int) -> str:
    """Stripe requests per changed object while the topology ran: all of them (the periodic
    `GET /v1/events` polls included), and without the polls."""
    total = sum(counts.values())
    fetches = total - counts.get("GET /v1/events", 0)
    return (f"sandbox requests during the {phase}: {total} for {changes} changed objects = "
            f"{total / max(1, changes):.2f} per change ({fetches / max(1, changes):.2f} without the event-list "
            f"polls; goal <= {GOALS['per_change']}: {verdict(total / max(1, changes) <= GOALS['per_change'])}); {counts}")


def topology(sandbox, counts, env, args, receiver, logs) -> dict:
    namespace = env["REDIS_NAMESPACE"]
    web_port, console_port = _free_port(), _free_port()
    base = {**env, "WEB_PORT": str(web_port), "CONSOLE_PORT": str(console_port),
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "LOG_FORMAT": "json", "LOG_LEVEL": "info"}
    watch = Watch()
    procs = {"web": start_process("web", ["web"], base, logs),
             "worker": start_process("worker", ["worker", "--processes", "2", "--threads", "4"], base, logs),
             "scheduler": start_process("scheduler", ["scheduler"], base, logs)}
    for role, proc in procs.items():
        watch.add(role, proc.pid)
    out: dict = {"namespace": namespace}
    try:
        if not wait_healthy(f"http://127.0.0.1:{web_port}/healthz", 120):
            raise RuntimeError("web did not answer /healthz in 120 s (see its log)")
        sandbox.webhooks.add_endpoint(f"http://127.0.0.1:{web_port}/stripe/webhook", secret=WEBHOOK_SECRET)
        settled = wait_quiet(watch, timeout=args.settle_timeout)
        say(f"  topology up and settled after {settled:.0f} s ({load()})")
        subs = pick_subscriptions(sandbox, args.changes + args.poll_changes)
        hook_subs, poll_subs = subs[:args.changes], subs[args.changes:]
        counts.clear()
        cpu_before = watch.cpu()
        out["webhook"] = make_changes(sandbox, receiver, hook_subs, args.spacing, args.wait)
        out["webhook_cpu"] = cpu_delta(cpu_before, watch.cpu())
        out["webhook_requests"] = dict(counts)
        say("  " + freshness_line("with webhooks", out["webhook"], GOALS["fresh_webhook_p95"]) + f" ({load()})")
        say("  " + requests_line("webhook phase", out["webhook_requests"], args.changes))
        wait_quiet(watch, timeout=300)
        counts.clear()
        before, roles_before, started = watch.cpu(), watch.cpu_by_role(), time.monotonic()
        time.sleep(args.idle_seconds)
        idle = cpu_delta(before, watch.cpu())
        roles_after = watch.cpu_by_role()
        by_role = {role: round(cpu_delta(roles_before.get(role, {}), after), 2) for role, after in roles_after.items()}
        out["idle"] = {"seconds": time.monotonic() - started, "cpu": idle, "requests": dict(counts),
                       "per_hour": idle * 3600 / (time.monotonic() - started), "by_role": by_role}
        say(f"  idle {out['idle']['seconds']:.0f} s: {idle:.2f} CPU-s -> {out['idle']['per_hour']:.1f} CPU-s/hour "
            f"(by process: {by_role}); sandbox requests {dict(counts)} ({load()})")
        # polling: no webhook endpoint, a scheduler polling every --sync-every-poll seconds
        sandbox.webhooks.endpoints.clear()
        stop_process(procs["scheduler"])
        poll_env = {**base, "SYNC_EVERY": str(args.sync_every_poll)}
        procs["scheduler"] = start_process("scheduler-poll", ["scheduler"], poll_env, logs)
        watch.add("scheduler", procs["scheduler"].pid)
        wait_quiet(watch, timeout=300)
        counts.clear()
        spacing = args.sync_every_poll / max(1, min(len(poll_subs), 7)) + 0.37  # phases spread over the interval
        out["poll"] = make_changes(sandbox, receiver, poll_subs, spacing, args.sync_every_poll * 3 + 60)
        out["poll_requests"] = dict(counts)
        goal = args.sync_every_poll + GOALS["poll_margin"]
        say("  " + freshness_line(f"by polling (SYNC_EVERY={args.sync_every_poll})", out["poll"], goal)
            + f" ({load()})")
        say("  " + requests_line("polling phase", out["poll_requests"], len(poll_subs)))
    finally:
        watch.sample()
        for proc in procs.values():
            stop_process(proc)
        watch.stop()
        sandbox.webhooks.endpoints.clear()
    peaks: dict[str, float] = {}
    for (role, pid), mb in watch.peaks.items():
        label = role if pid == watch.roots.get(role) or role != "worker" else "worker child"
        peaks[f"{label}"] = max(peaks.get(label, 0.0), mb)
    out["peaks"] = peaks
    out["peaks_by_pid"] = {f"{role} {pid}": mb for (role, pid), mb in watch.peaks.items()}
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- one size ----------------------------------------------------------------------------------

def run_size(size: int, args, folder: Path) -> dict:
    from stripe_sandbox import Sandbox, generate_account

    logs = folder / f"logs-{size}"
    logs.mkdir()
    receiver = Receiver()
    rules = write_rules(logs, receiver.url)
    say(f"== {size} customers ({load()}); logs in {logs}")
    began = time.perf_counter()
    sandbox = Sandbox(api_key=KEY, start=datetime.now(UTC).replace(microsecond=0), seed=1)
    summary = generate_account(sandbox, customers=size, seed=1, invoice_months=0)
    url = sandbox.start()
    counts = count_requests(sandbox)
    say(f"  sandbox: {summary['customers']} customers, {summary['subscriptions']} subscriptions generated in "
        f"{time.perf_counter() - began:.1f} s at {url}")
    db, name = fresh_pg(args.pg_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DATABASE_", "REDIS_"))}
    env.update({"PYTHONPATH": str(ROOT), "DATABASE_URL": db, "RULES_DIR": str(rules), "STRIPE_API_KEY": KEY,
                "STRIPE_API_BASE": url, "REDIS_URL": args.redis_url, "REDIS_NAMESPACE": f"bench-topo-{name}",
                "HISTORY_MONTHS": "0", "LOG_FORMAT": "json", "LOG_LEVEL": "warning", **stripe_rps_env(args)})
    result: dict = {"size": size}
    try:
        bf = backfill(env, counts, args, logs)
        result["backfill"] = bf
        say(f"  backfill `sync --full`: {bf['wall']:.1f} s for {bf['customers']} customers, {bf['subscriptions']} "
            f"subscriptions; {bf['requests']} requests, ideal {bf['ideal']:.1f} s -> {bf['wall'] / bf['ideal']:.2f}x "
            f"ideal (goal <= {GOALS['backfill_x']}x: {verdict(bf['wall'] / bf['ideal'] <= GOALS['backfill_x'])}); "
            f"{bf['ms_per_customer']:.2f} ms/customer; peak RSS {bf['rss_mb']:.0f} MB, {bf['cpu']:.1f} CPU-s, "
            f"exit {bf['code']}; the sandbox (this process) {bf['sandbox_cpu']:.1f} CPU-s; endpoints {bf['endpoints']} ({load()})")
        commands = []
        for args_, label in ((["evaluate", "--json"], "evaluate-first"), (["evaluate", "--json"], "evaluate-next"),
                             (["accounts", "--json"], "accounts"), (["report", "--json"], "report"),
                             (["check"], "check")):
            res = cli(args_, env, logs, label)
            res["label"] = label
            commands.append(res)
            say(f"  {label:15} `{res['command']}`: peak RSS {res['rss_mb']:.0f} MB "
                f"(goal <= {GOALS['rss_mb']:.0f}: {verdict(res['rss_mb'] <= GOALS['rss_mb'])}), "
                f"{res['wall']:.1f} s wall, {res['cpu']:.1f} CPU-s, exit {res['code']} ({load()})")
        result["commands"] = commands
        ch = cli_changes(sandbox, env, counts, args.cli_changes, logs)
        result["cli_changes"] = ch
        say(f"  requests per change, `sync` after {ch['objects']} objects changed: {ch['events']} events applied, "
            f"{ch['requests']} requests -> {ch['per_object']:.2f} per changed object (sync --json says "
            f"{ch['reported_per_change']}; goal <= {GOALS['per_change']}: "
            f"{verdict(ch['per_object'] <= GOALS['per_change'] and bool(ch['events']))}); sandbox saw "
            f"{ch['endpoints']}")
        if args.topology and (args.topology_at_all_sizes or size == max(args.sizes)):
            result["topology"] = topology(sandbox, counts, env, args, receiver, logs)
            for label, mb in sorted(result["topology"]["peaks"].items()):
                say(f"  peak RSS {label}: {mb:.0f} MB (goal <= {GOALS['rss_mb']:.0f}: "
                    f"{verdict(mb <= GOALS['rss_mb'])})")
            say(f"  peak RSS by pid: { {k: round(v) for k, v in result['topology']['peaks_by_pid'].items()} }")
    finally:
        sandbox.stop()
        receiver.stop()
        if not args.keep_db:
            drop_pg(args.pg_url, name)
        clean_redis(args.redis_url, env["REDIS_NAMESPACE"])
    say(f"== {size} done in {time.perf_counter() - began:.0f} s ({load()})")
    return result


def summary(results: list[dict]) -> None:
    say("\nSUMMARY (goals at 300,000 customers; sizes as run)")
    for r in results:
        bf = r["backfill"]
        say(f"  {r['size']:>7}: backfill {bf['wall']:.1f} s / ideal {bf['ideal']:.1f} s = "
            f"{bf['wall'] / bf['ideal']:.2f}x ({verdict(bf['wall'] / bf['ideal'] <= GOALS['backfill_x'])}); "
            f"{bf['ms_per_customer']:.2f} ms/customer")
    if len(results) >= 2:
        first, last = results[0]["backfill"]["ms_per_customer"], results[-1]["backfill"]["ms_per_customer"]
        ratio = last / first
        say(f"  ms/customer {results[-1]['size']} vs {results[0]['size']}: {ratio:.2f} "
            f"(goal within 1 +- {GOALS['per_customer_spread']}: {verdict(abs(ratio - 1) <= GOALS['per_customer_spread'])})")
    big = results[-1]
    rss = {f"`{c['command']}` ({c['label']})": c["rss_mb"] for c in big.get("commands", [])}
    rss["`sync --full`"] = big["backfill"]["rss_mb"]
    rss.update({f"process {k}": v for k, v in big.get("topology", {}).get("peaks", {}).items()})
    worst = max(rss, key=rss.get)
    say(f"  peak RSS at {big['size']}: worst {worst} {rss[worst]:.0f} MB "
        f"(goal <= {GOALS['rss_mb']:.0f} MB for every one: {verdict(rss[worst] <= GOALS['rss_mb'])})")
    top = big.get("topology")
    if top:
        idle = top["idle"]["per_hour"]
        say(f"  idle hour at {big['size']}: {idle:.1f} CPU-s (goal <= {GOALS['idle_cpu_hour']:.0f}: "
            f"{verdict(idle <= GOALS['idle_cpu_hour'])})")
    say(f"  {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30000, 300000])
    parser.add_argument("--rps", type=float, default=100)
    parser.add_argument("--endpoint-rps", type=float, default=25)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--cli-changes", type=int, default=50, help="objects of each kind changed before `sync`")
    parser.add_argument("--changes", type=int, default=50, help="cancellations scheduled with webhooks")
    parser.add_argument("--spacing", type=float, default=2.0, help="seconds between two webhook-phase changes")
    parser.add_argument("--wait", type=float, default=180, help="seconds to wait for the last arrivals")
    parser.add_argument("--poll-changes", type=int, default=14, help="cancellations scheduled while polling")
    parser.add_argument("--sync-every-poll", type=int, default=30)
    parser.add_argument("--idle-seconds", type=float, default=900,
                        help="idle window (900 = one EVALUATE_EVERY period, so the safety-net pass is in it)")
    parser.add_argument("--settle-timeout", type=float, default=3600)
    parser.add_argument("--no-topology", dest="topology", action="store_false",
                        help="backfill, commands and CLI requests per change only")
    parser.add_argument("--topology-at-all-sizes", action="store_true",
                        help="run the topology at every size, not only the largest (the goals' size)")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-topology-"))
    say(f"bench.scale_topology {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, sizes {args.sizes}, {os.cpu_count()} cores, "
        f"{load()}; STRIPE_MAX_RPS={args.rps:g} STRIPE_ENDPOINT_RPS={args.endpoint_rps:g}")
    results = [run_size(size, args, folder) for size in args.sizes]
    summary(results)


if __name__ == "__main__":
    main()
