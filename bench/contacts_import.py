"""Benchmark: `contacts import` of a large CSV, streamed in batches (issue 15, item 8).

    python -m bench.contacts_import [--rows 200000] [--db-url URL]

Writes a CSV of `--rows` contacts (id,type,name,email; one in 1,000 rows bad), then imports it
with `worker.contacts.importer.import_csv` into a fresh SQLite file (or `--db-url`, e.g. a
PostgreSQL database), twice: all new, then all updated. Prints rows/s for each (goal ≥ 20,000).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.figures import figure
from worker.contacts.importer import import_csv
from worker.store.db import open_store

GOAL = 20_000


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("id,type,name,email\n")
        for n in range(rows):
            kind = "person" if n % 1000 == 999 else ("account" if n % 3 else "user")
            out.write(f"acct-{n:07d},{kind},\"Company {n}, Inc\",ops{n}@company{n}.example\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "contacts.csv"
        write_csv(path, args.rows)
        store = open_store(args.db_url or f"sqlite:///{Path(folder) / 'bench.db'}")
        now = datetime(2026, 12, 1, tzinfo=UTC)
        try:
            for phase in ("new", "updated"):
                started = time.perf_counter()
                result, problems = import_csv(store, path, now, None)
                elapsed = time.perf_counter() - started
                count = result.created + result.updated
                rate = args.rows / elapsed
                print(f"{phase}: {count:,} rows imported, {len(problems):,} bad, {elapsed:.2f} s, {rate:,.0f} rows/s")
                figure(f"contacts_import.{phase}", rate, "rows/s", goal=f">= {GOAL}", met=rate >= GOAL,
                       label=f"contacts import of {args.rows:,} CSV rows ({phase})")
        finally:
            store.engine.dispose()


if __name__ == "__main__":
    main()
