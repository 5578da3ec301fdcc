"""Benchmark: one full evaluation pass (triggers + matching), durable_rules vs the reference.

    .venv/bin/python bench/evaluate.py [--contacts 100000] [--stress 1000000]

Builds `--contacts` (previous, new) snapshot pairs and the 20 automations of
`bench/engine_population.py` (not timed), then times a pass shaped like
`worker.automations.evaluate`: `occurrences(...)` for every contact, then one `match(...)` of
them all, once with the durable_rules matcher and once with the reference, and checks both
found the same matches. Goal (issue 5): ≥ 20,000 contacts/s, the engine within 2×
of the reference. `--stress N` then posts N random occurrences through one durable_rules Host
in chunks, printing RSS as it goes and comparing every chunk with the reference.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine_population import AUTOMATIONS, contact_pairs, random_occurrences
from bench.figures import figure
from worker.core.money import FxTable
from worker.core.triggers import TriggerSettings, horizons_for, occurrences
from worker.engine import build_matcher

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one_pass(kind: str, pairs, settings) -> tuple[float, list, int, float]:
    """Like `worker.automations.evaluate`: every contact's occurrences, then one `match` call.

    Returns (seconds for the whole pass, match keys, occurrences, seconds spent matching)."""
    matcher = build_matcher(AUTOMATIONS, kind)
    start = time.perf_counter()
    occs: list = []
    for prev, new in pairs:
        occs += occurrences(prev, new, NOW, settings)
    middle = time.perf_counter()
    found = matcher.match(occs)
    end = time.perf_counter()
    matcher.close()
    return end - start, [m.key for m in found], len(occs), end - middle


def triggers_only(pairs, settings) -> float:
    start = time.perf_counter()
    for prev, new in pairs:
        occurrences(prev, new, NOW, settings)
    return time.perf_counter() - start


def evaluate(contacts: int) -> None:
    pairs = contact_pairs(contacts, NOW)
    settings = TriggerSettings(fx=FxTable("usd"), horizons=horizons_for(AUTOMATIONS))
    t_trig = triggers_only(pairs, settings)
    t_ref, ref, n_occ, m_ref = one_pass("reference", pairs, settings)
    t_dur, dur, _, m_dur = one_pass("durable", pairs, settings)
    print(f"contacts: {contacts:,}  automations: {len(AUTOMATIONS)}  occurrences: {n_occ:,}  "
          f"matches: {len(ref):,}")
    print(f"triggers only      {t_trig:7.2f} s  {contacts / t_trig:10,.0f} contacts/s")
    print(f"reference pass     {t_ref:7.2f} s  {contacts / t_ref:10,.0f} contacts/s  (matching {m_ref:.2f} s)")
    print(f"durable_rules pass {t_dur:7.2f} s  {contacts / t_dur:10,.0f} contacts/s  (matching {m_dur:.2f} s; "
          f"{t_dur / t_ref:.2f}× the reference)")
    print(f"same matches: {dur == ref}")
    figure("evaluate.durable_pass", contacts / t_dur, "contacts/s", goal=">= 20000", met=contacts / t_dur >= 20_000,
           label="evaluation pass: triggers + durable_rules matching")
    figure("evaluate.reference_pass", contacts / t_ref, "contacts/s", label="evaluation pass with the reference matcher")
    figure("evaluate.durable_vs_reference", t_dur / t_ref, "x", goal="<= 2", met=t_dur / t_ref <= 2,
           label="durable_rules pass time / reference pass time")
    figure("evaluate.same_matches", float(dur == ref), "bool", goal="1", met=dur == ref,
           label="durable_rules and the reference found the same matches")


def _fingerprint(matches) -> int:
    return hash(tuple(m.key for m in matches))


def stress(total: int, chunk: int = 10_000) -> None:
    """Post `total` occurrences through one Host, then check every chunk against the reference.

    The durable phase runs alone with small chunks, so RSS shows the engine, not Python's own
    lists; each chunk's matches are kept as a fingerprint and compared in a second phase.
    """
    durable = build_matcher(AUTOMATIONS, "durable")
    seeds = range(0, total, chunk)
    prints, matched, posted = [], 0, 0
    before = rss_kb()
    print(f"stress: {total:,} occurrences through one Host; RSS before {before:,} kB")
    start = time.perf_counter()
    for n, seed in enumerate(seeds):
        batch = random_occurrences(min(chunk, total - seed), seed=seed)
        found = durable.match(batch)
        prints.append(_fingerprint(found))
        matched += len(found)
        posted += len(batch)
        del found, batch
        if n == 0:
            warm = rss_kb()
        if (n + 1) % max(1, len(seeds) // 10) == 0:
            print(f"  {posted:>9,} occurrences  RSS {rss_kb():,} kB")
    elapsed = time.perf_counter() - start
    after = rss_kb()
    durable.close()
    reference = build_matcher(AUTOMATIONS, "reference")
    same = all(_fingerprint(reference.match(random_occurrences(min(chunk, total - seed), seed=seed))) == p
               for seed, p in zip(seeds, prints))
    print(f"stress: {elapsed:.1f} s durable phase (incl. generating occurrences), {matched:,} matches; "
          f"RSS {before:,} kB before, {warm:,} kB after the first chunk, {after:,} kB at the end; "
          f"identical to the reference: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--stress", type=int, default=0, help="also post N occurrences (0 = skip)")
    args = parser.parse_args()
    if args.contacts:
        evaluate(args.contacts)
    if args.stress:
        stress(args.stress)


if __name__ == "__main__":
    main()
