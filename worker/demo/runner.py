"""`run_demo`: the whole product on a simulated Stripe account, day by day on the sandbox's
virtual clock (wiring).

    result = run_demo(DemoConfig(customers=2000, days=365, seed=1), progress=callback)

Setup: a `Sandbox` (in-process, real HTTP) with a generated account, the action sink, the
demo's rule files and a SQLite database in a temporary folder, a full sync and the baseline
evaluation. Then every day: the simulated customers decide (`CustomerBehaviour.step`), the
market brings sign-ups, trial decisions and plan changes (`Market.step`), the
sandbox advances one day (renewals, trial ends, cancellations take effect), and — every
`pipeline_every` days — the product's own use-cases as of the virtual now: an incremental sync
over HTTP (`worker.sync.service.sync_now`) and the evaluation (`run_evaluation`). They run on
one `Runtime` with the inline queue (actions delivered to the sink before the evaluation
returns; outcomes measured) and the sandbox's virtual clock.
At the end the report is built from the store and the true lifts computed beside it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stripe_sandbox import Sandbox, generate_account
from worker.automations.service import run_evaluation
from worker.core.money import FxTable
from worker.demo.behaviour import CustomerBehaviour, Effects
from worker.demo.market import Market, MarketRates
from worker.demo.rules import write_rules
from worker.demo.sink import ActionSink
from worker.demo.truth import TrueLift, true_lifts
from worker.report.build import Report, build_report
from worker.runtime.queue import InlineQueue
from worker.runtime.runtime import Runtime
from worker.settings import Settings, load_settings
from worker.store.db import Store, open_store
from worker.stripe_api.transport import StripeApi
from worker.sync.service import sync_now

API_KEY = "sk_test_demo"
Progress = Callable[[int, int], None]   # (days done, days)


@dataclass(frozen=True)
class DemoConfig:
    customers: int = 2000
    days: int = 365
    seed: int = 1
    effects: Effects = field(default_factory=Effects)
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    pipeline_every: int = 1                 # days between sync + evaluate passes
    reconcile_every: timedelta = timedelta(days=30)
    # The safety nets run monthly, not daily/weekly: a virtual day is one pass here.
    recompute_full_every: timedelta = timedelta(days=30)
    reminder_holdout: int = 30              # percent
    save_holdout: int = 50
    max_rps: float = 1000.0                 # the local sandbox, not Stripe
    # Months of history the first sync rebuilds from the generated account's invoices, so the
    # report is complete from day one (HISTORY_MONTHS; 0: off).
    history_months: int = 24
    market: MarketRates = field(default_factory=MarketRates)   # sign-ups, trials, plan changes
    reminder_goal: str = "renewal"          # or "retention" (90 days): a recurring trigger's overlapping windows


@dataclass
class DemoResult:
    config: DemoConfig
    report: Report
    truth: dict[str, TrueLift]
    actions_received: dict[str, int]
    account: dict[str, Any]
    end: datetime
    timings: dict[str, float]
    first_day: Report | None = None  # the report right after the first sync and the baseline
    market: dict[str, int] = field(default_factory=dict)


def run_demo(config: DemoConfig, progress: Progress | None = None, workdir: Path | None = None) -> DemoResult:
    """Run the demo in `workdir` (a temporary folder when None) and return what it measured."""
    if workdir is not None:
        return _run(config, progress, workdir)
    with tempfile.TemporaryDirectory(prefix="stripe-lifecycle-demo-") as tmp:
        return _run(config, progress, Path(tmp))


def _run(config: DemoConfig, progress: Progress | None, workdir: Path) -> DemoResult:
    started = time.perf_counter()
    sandbox = Sandbox(api_key=API_KEY, start=config.start, seed=config.seed)
    account = generate_account(sandbox, customers=config.customers, seed=config.seed)
    behaviour = CustomerBehaviour(config.effects, seed=config.seed)
    market = Market(config.market, seed=config.seed, initial_customers=config.customers)
    with sandbox, ActionSink(lambda body: behaviour.observe(body, sandbox.clock.ts)) as sink:
        rules_dir = write_rules(workdir / "rules", sink.url, reminder_holdout=config.reminder_holdout,
                                save_holdout=config.save_holdout, reminder_goal=config.reminder_goal)
        runtime = Runtime(_settings(sandbox, workdir, rules_dir, config), queue=InlineQueue(),
                          clock=lambda: sandbox.clock.now,
                          stripe=StripeApi.connect(API_KEY, sandbox.url, max_rps=config.max_rps))
        try:
            days = _Days(config, sandbox, behaviour, market, runtime)
            days.pipeline()   # the first sync is the full backfill; this evaluation is the baseline
            first_day = build_report(runtime.store(), runtime.rules(), now=runtime.clock())
            days.timings["setup"] = time.perf_counter() - started
            days.run(progress)
            tick = time.perf_counter()
            rules = runtime.rules()
            report = build_report(runtime.store(), rules, now=runtime.clock())
            truth = true_lifts(runtime.store(), behaviour, FxTable.from_config(rules.source.mrr))
            days.timings["report"] = time.perf_counter() - tick
        finally:
            runtime.close()
    return DemoResult(config, report, truth, dict(sink.received), account, sandbox.clock.now, days.timings,
                      first_day=first_day, market=market.summary())


class _Days:
    """The day-by-day loop: customers decide, the sandbox advances, sync + evaluate."""

    def __init__(self, config: DemoConfig, sandbox: Sandbox, behaviour: CustomerBehaviour, market: Market,
                 runtime: Runtime) -> None:
        self.config, self.sandbox, self.behaviour, self.market = config, sandbox, behaviour, market
        self.runtime = runtime
        self.timings = dict.fromkeys(("setup", "customers", "advance", "sync", "evaluate", "report"), 0.0)

    def run(self, progress: Progress | None) -> None:
        for day in range(1, self.config.days + 1):
            self._timed("customers", self.behaviour.step, self.sandbox)
            self._timed("customers", self.market.step, self.sandbox)
            self._timed("advance", self.sandbox.advance, timedelta(days=1))
            if day % self.config.pipeline_every == 0 or day == self.config.days:
                self.pipeline()
            if progress is not None:
                progress(day, self.config.days)

    def pipeline(self) -> None:
        """Incremental sync over HTTP, then evaluate (deliver, measure) as of the virtual now."""
        now = self.runtime.clock()
        self._timed("sync", sync_now, self.runtime, now, full=False)
        self._timed("evaluate", run_evaluation, self.runtime, now)

    def _timed(self, name: str, step: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        tick = time.perf_counter()
        step(*args, **kwargs)
        self.timings[name] += time.perf_counter() - tick


def _settings(sandbox: Sandbox, workdir: Path, rules_dir: Path, config: DemoConfig) -> Settings:
    """Embedded settings pointing at the sandbox, the temporary database and rules."""
    return load_settings(stripe_api_key=API_KEY, stripe_api_base=sandbox.url,
                         database_url=f"sqlite:///{workdir / 'demo.db'}", rules_dir=rules_dir,
                         redis_url=None, stripe_max_rps=config.max_rps, stripe_webhook_secret=None,
                         recompute_full_every=int(config.recompute_full_every.total_seconds()),
                         reconcile_every=int(config.reconcile_every.total_seconds()),
                         history_months=config.history_months)


def open_demo_store(workdir: Path) -> Store:
    """The demo database in `workdir` (for inspection after a run with a kept workdir)."""
    return open_store(f"sqlite:///{workdir / 'demo.db'}")
