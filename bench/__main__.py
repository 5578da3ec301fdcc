"""Run every benchmark and write bench/results/latest.md (`make bench` = `python -m bench`).

    python -m bench [--quick] [--only sync,mrr,evaluate,delivery,contacts,console,demo] [--out FILE]

Each benchmark runs in its own subprocess at full size (the sizes its goals are stated for),
or small with `--quick`. Their `FIGURE …` lines (bench/figures.py) become one markdown table,
beside a description of the machine (CPU model, cores, memory, Python, load average before and
after each run: other work on the machine lowers wall-clock figures) and each benchmark's own
human output. The demo is timed from outside: `stripe-lifecycle demo` end to end.
A benchmark that fails is reported as failed and the others still run; the exit code is 1 then.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.figures import parse

REPO = Path(__file__).resolve().parents[1]
DEMO_GOAL_S = 180


@dataclass(frozen=True)
class Bench:
    name: str
    what: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    timeout: float = 1800


BENCHES = (
    Bench("sync", "full backfill from the Stripe sandbox over HTTP vs a bare stripe client; ingest only",
          ("-m", "bench.sync_backfill", "--customers", "50000"), ("-m", "bench.sync_backfill", "--customers", "2000")),
    Bench("history", "day-one history: invoices paged and every contact rebuilt after the full backfill",
          ("-m", "bench.history_backfill", "--customers", "50000"),
          ("-m", "bench.history_backfill", "--customers", "2000")),
    Bench("mrr", "MRR + stage and whole contact snapshots in the pure core",
          ("-m", "bench.mrr_stages", "--contacts", "100000"), ("-m", "bench.mrr_stages", "--contacts", "10000")),
    Bench("evaluate", "one evaluation pass (triggers + matching), durable_rules vs the reference",
          ("-m", "bench.evaluate", "--contacts", "100000"), ("-m", "bench.evaluate", "--contacts", "10000")),
    Bench("delivery", "webhook deliveries through Redis and two dramatiq worker processes (PostgreSQL outbox)",
          ("-m", "bench.delivery", "--count", "10000"), ("-m", "bench.delivery", "--count", "2000", "--rate", "0")),
    Bench("contacts", "`contacts import`: a CSV streamed in batches into SQLite, new then updated rows",
          ("-m", "bench.contacts_import", "--rows", "200000"), ("-m", "bench.contacts_import", "--rows", "20000")),
    Bench("console", "console pages and API calls, server time, 100,000 contacts (PostgreSQL)",
          ("-m", "bench.console_pages", "--contacts", "100000"), ("-m", "bench.console_pages", "--contacts", "10000",
                                                                   "--requests", "10")),
    Bench("demo", "`stripe-lifecycle demo`: generated account, day-by-day pipeline, report (timed from outside)",
          ("-m", "worker.cli.main", "demo"), ("-m", "worker.cli.main", "demo", "--customers", "300", "--days", "60")),
)


@dataclass
class Result:
    bench: Bench
    argv: tuple[str, ...]
    code: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)
    figures: list[dict[str, str]] = field(default_factory=list)
    output: list[str] = field(default_factory=list)


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or platform.machine())
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo") if line.startswith("MemTotal")), 0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False)
    return {"CPU": cpu, "cores": str(os.cpu_count()), "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
            "Python": platform.python_version(), "OS": platform.platform(terse=True),
            "commit": commit.stdout.strip() or "?"}


def _read(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def run(bench: Bench, quick: bool, workdir: Path) -> Result:
    argv = bench.quick if quick else bench.full
    if bench.name == "demo":
        argv = (*argv, "--out", str(workdir / "demo.html"))
    result = Result(bench, argv)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOG_LEVEL": "warning"}
    before, cpu = os.getloadavg()[0], _children_cpu()
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, *argv], cwd=REPO if bench.name != "demo" else workdir, env=env,
                              capture_output=True, text=True, timeout=bench.timeout, check=False)
        result.code, out = done.returncode, done.stdout + ("\n" + done.stderr if done.returncode else "")
    except subprocess.TimeoutExpired as exc:
        result.code, out = -1, f"timed out after {bench.timeout:.0f} s\n{exc.stdout or ''}"
    result.wall, result.cpu = time.perf_counter() - started, _children_cpu() - cpu
    result.load = (before, os.getloadavg()[0])
    for line in out.splitlines():
        fields = parse(line)
        if fields:
            result.figures.append(fields)
        elif line.strip():
            result.output.append(line.rstrip())
    if bench.name == "demo" and result.code == 0:
        result.figures.append(_demo_figure(result.wall, quick))
    return result


def _demo_figure(wall: float, quick: bool) -> dict[str, str]:
    goal = "" if quick else f"< {DEMO_GOAL_S}"
    return {"name": "demo.wall", "value": f"{wall:.1f}", "unit": "s", "goal": goal,
            "label": "demo end to end" + (" (quick size)" if quick else " (2,000 customers, 365 days)"),
            **({} if quick else {"met": "yes" if wall < DEMO_GOAL_S else "no"})}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def render(results: list[Result], info: dict[str, str], quick: bool, loads: tuple[tuple, tuple]) -> str:
    size = "quick sizes (`python -m bench --quick`)" if quick else "full sizes (`python -m bench`)"
    lines = [f"# Benchmark results — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {size}", "",
             "| machine | |", "|---|---|", *[f"| {k} | {v} |" for k, v in info.items()],
             f"| load average before (1/5/15 min) | {' / '.join(f'{x:.2f}' for x in loads[0])} |",
             f"| load average after (1/5/15 min) | {' / '.join(f'{x:.2f}' for x in loads[1])} |", "",
             "Wall-clock figures drop when other work shares the cores (see each run's load average).", "",
             "| benchmark | figure | value | unit | goal | met |", "|---|---|---:|---|---|---|"]
    for r in results:
        if r.code != 0:
            lines.append(f"| {r.bench.name} | **failed** (exit {r.code}; output below) | | | | |")
        for f in r.figures:
            lines.append(f"| {r.bench.name} | {f.get('label', f['name'])} | {_number(f['value'], f.get('unit'))} "
                         f"| {'' if f.get('unit') == 'bool' else f.get('unit', '')} "
                         f"| {f.get('goal', '')} | {f.get('met', '')} |")
    lines += ["", "| benchmark | command | wall | CPU (all its processes) | load 1-min before → after |",
              "|---|---|---:|---:|---|"]
    for r in results:
        shown = " ".join("FILE.html" if arg.endswith("demo.html") else arg for arg in r.argv)
        lines.append(f"| {r.bench.name} | `python {shown}` | {r.wall:.1f} s | {r.cpu:.1f} s "
                     f"| {r.load[0]:.2f} → {r.load[1]:.2f} |")
    for r in results:
        lines += ["", f"## {r.bench.name}: {r.bench.what}", "", "```", *r.output[-40:], "```"]
    return "\n".join(lines) + "\n"


def _number(value: str, unit: str | None = None) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    if unit == "bool":
        return "yes" if number else "no"
    return f"{number:,.0f}" if abs(number) >= 100 else f"{number:.3g}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes in all")
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(b.name for b in BENCHES))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "latest.md")
    args = parser.parse_args()
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    info, load_before, results = machine(), os.getloadavg(), []
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        for bench in chosen:
            print(f"== {bench.name}: python {' '.join(bench.quick if args.quick else bench.full)}", flush=True)
            result = run(bench, args.quick, Path(workdir))
            results.append(result)
            for f in result.figures:
                unit = "" if f.get("unit") == "bool" else f.get("unit", "")
                print(f"   {f.get('label', f['name'])}: {_number(f['value'], f.get('unit'))} {unit}"
                      + (f"  (goal {f['goal']}: {'met' if f.get('met') == 'yes' else 'missed'})" if f.get("met") else ""))
            print(f"   {'ok' if result.code == 0 else f'FAILED (exit {result.code})'} in {result.wall:.1f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, info, args.quick, (load_before, os.getloadavg())))
    print(f"wrote {args.out}")
    return 0 if all(r.code == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
