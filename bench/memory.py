"""Benchmark for issue #18 point 2 (bounded memory): peak RSS of each command at two account sizes.

    python -m bench.memory [--sizes 5000 20000] [--code PATH ...] [--pg-url URL]

For each size a sandbox (`python -m stripe_sandbox`) generates the account; for each `--code`
tree (default: this checkout; give an older export to compare before/after) a fresh PostgreSQL
database is filled by `sync --full`, then `evaluate` (the first pass: baseline, everyone),
`evaluate` again (a scheduled pass), `accounts --json`, `accounts` (table) and `report` run, each
as its own process under `/usr/bin/time -f %M`. Prints peak RSS (MB) and wall time per command:
flat RSS from the small to the large size is the goal (≤ 512 MB at 300,000 contacts). Nothing
here is a test; figures go to bench/results.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench import scale

KEY = "sk_test_bench_memory"
ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["sync", "--full", "--json"], ["evaluate", "--json"], ["evaluate"], ["accounts", "--json"],
            ["accounts"], ["report", "--json"])


def start_sandbox(customers: int) -> tuple[subprocess.Popen, str]:
    return scale.start_sandbox(customers, KEY)


def fresh_pg(admin_url: str) -> str:
    return scale.fresh_pg(admin_url, "bench_memory")


def drop_pg(admin_url: str, url: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


def run(code: Path, command: list[str], env: dict) -> tuple[float, float, float, str]:
    """(peak RSS MB, wall s, CPU s, last output line) of one CLI command in its own process."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M CPU %U %S", sys.executable, "-m", "worker.cli.main", *command],
                          env={**env, "PYTHONPATH": str(code)}, cwd=code, capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - started
    found = re.search(r"MAXRSS (\d+) CPU ([\d.]+) ([\d.]+)", done.stderr)
    tail = (done.stdout.strip().splitlines() or [""])[-1][:160]
    if done.returncode not in (0, 1):
        tail = f"exit {done.returncode}: {done.stderr.strip().splitlines()[-2:]}"
    cpu = float(found.group(2)) + float(found.group(3)) if found else float("nan")
    return (int(found.group(1)) / 1024 if found else float("nan")), elapsed, cpu, tail


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--code", type=Path, nargs="+", default=[ROOT])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rps", default="200")
    args = parser.parse_args()
    rules = Path(tempfile.mkdtemp(prefix="bench-memory-")) / "rules"
    rules.mkdir()
    for name in ("stages.yaml", "stripe.yaml", "automations.yaml"):
        (rules / name).write_text((ROOT / "rules" / name).read_text())
    print(f"load average before: {os.getloadavg()}", flush=True)
    for size in args.sizes:
        proc, url = start_sandbox(size)
        try:
            for code in args.code:
                db = fresh_pg(args.pg_url)
                env = {**os.environ, "DATABASE_URL": db, "RULES_DIR": str(rules), "STRIPE_API_KEY": KEY,
                       "STRIPE_API_BASE": url, "STRIPE_MAX_RPS": args.rps, "STRIPE_ENDPOINT_RPS": args.rps}
                try:
                    for command in COMMANDS:
                        rss, wall, cpu, tail = run(code, command, env)
                        print(f"{size} customers | {code} | {' '.join(command)}: peak RSS {rss:.0f} MB, "
                              f"{wall:.1f} s wall, {cpu:.1f} CPU-s | {tail[:100]}", flush=True)
                finally:
                    drop_pg(args.pg_url, db)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
