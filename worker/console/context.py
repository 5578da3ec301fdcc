"""What every console handler shares: the store, the clock, the rules (reloaded when a rule
file changes, with the last load result kept for the Rules page) and a short-lived report cache
(the report reads every contact's history; building it on each page view would not scale:
it is rebuilt in the background every REPORT_TTL_S while the previous one is shown)."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from worker.errors import LifecycleError, RuleFileError
from worker.logs import get_logger, redact
from worker.rules.model import RuleSet
from worker.settings import Settings
from worker.store.db import Store

REPORT_TTL_S = 300.0  # a rebuild starts in the background after this; the old one is shown meanwhile
MRR_SORT_BATCH = 5000  # rows per transaction of the background mrr_sort refresh
REPORT_WAIT_S = 10.0  # how long a request waits for a first build in a small store ...
SMALL_STORE = 5000  # ... (fewer contacts than this: the build takes seconds at most); at size it answers at once
log = get_logger("console")


class ReportPending(LifecycleError):
    """The report is being built for the first time; the page asks to reload shortly."""

    def __init__(self) -> None:
        super().__init__("The report is being built (it reads every contact's history); reload in a minute.")


@dataclass
class LoadResult:
    at: datetime
    ok: bool
    problems: list[str]


@dataclass
class ConsoleContext:
    settings: Settings
    store: Store
    clock: Callable[[], datetime]
    #: called with re-driven delivery ids to send them now (None: the reconciler picks them up)
    enqueue: Callable[[list[int]], None] | None = None
    last_load: LoadResult | None = None
    _rules: RuleSet | None = None
    _rules_key: tuple | None = None
    _reports: dict[str | None, tuple[float, Any]] = field(default_factory=dict)
    _building: dict[str | None, threading.Event] = field(default_factory=dict)
    totals: dict = field(default_factory=dict)  # worker.console.accounts.list_accounts's memo
    _build_error: LifecycleError | None = None
    _small: bool | None = None
    _frozen: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rules(self) -> RuleSet:
        """The rule set, re-read when a file in RULES_DIR changed; raises its LifecycleError."""
        from worker.rules.loader import load_rules, rule_environment  # noqa: PLC0415

        key = _folder_key(Path(self.settings.rules_dir))
        with self._lock:
            if self._rules is not None and key == self._rules_key:
                return self._rules
            try:
                rules = load_rules(self.settings.rules_dir, rule_environment())
            except LifecycleError as exc:
                problems = exc.problems if isinstance(exc, RuleFileError) else [str(exc)]
                self.last_load = LoadResult(self.clock(), False, [redact(p) for p in problems])
                self._rules, self._rules_key = None, None
                raise
            self.last_load = LoadResult(self.clock(), True, [])
            self._rules, self._rules_key = rules, key
            self._reports.clear()
            threading.Thread(target=self._refresh_mrr_sort, args=(rules,), name="console-mrr-sort",
                             daemon=True).start()
            return rules

    def _refresh_mrr_sort(self, rules: RuleSet) -> None:
        """Recompute contact_state.mrr_sort with these rules' FX rates (worker.compute.mrr_sort):
        after a rate change every row is stale; the MRR sort converts per row until this is done."""
        from worker.compute import mrr_sort  # noqa: PLC0415
        from worker.core.money import FxTable  # noqa: PLC0415

        fx, count = FxTable.from_config(rules.source.mrr), 0
        try:
            with self.store.session() as session:  # a read first: usually nothing is stale, nothing to lock
                if not mrr_sort.stale_count(session, fx, limit=1):
                    return
            while True:  # in batches, each its own transaction: evaluation's writes wait for one batch at most
                with self.store.session() as session:
                    done = mrr_sort.refresh(session, fx, limit=MRR_SORT_BATCH)
                count += done
                if done < MRR_SORT_BATCH:
                    break
            if count:
                log.info("console_mrr_sort_refreshed", contacts=count)
        except Exception as exc:  # noqa: BLE001 - a background thread reports, it does not die silently
            log.error("console_mrr_sort_failed", error=redact(repr(exc)))

    def report(self, since: datetime | None, *, wait: bool = True):
        """The report (worker.report.build.Report), rebuilt at most every REPORT_TTL_S.
        `wait=False`: never wait for a first build (ReportPending at once)."""
        return self._cached(since, wait=wait)[0]

    def report_figures(self, since: datetime | None) -> list[dict[str, Any]]:
        """The Revenue page's chart data for that report, made once per build."""
        entry = self._cached(since)
        if entry[1] is None:
            from worker.console.charts import report_figures  # noqa: PLC0415

            entry[1] = report_figures(entry[0])
        return entry[1]

    def _cached(self, since: datetime | None, *, wait: bool = True) -> list:
        """Fresh: the cached entry. Stale: the cached entry, and one background rebuild starts.
        None yet: a background build starts; in a small store (the build takes seconds) it is
        awaited up to REPORT_WAIT_S, at size (minutes) not at all: ReportPending at once (the page
        says "being built, reload"), so no request is held by a build."""
        cache_key = since.isoformat() if since else None
        rules = self.rules()
        with self._lock:
            hit = self._reports.get(cache_key)
            if hit is not None and time.monotonic() - hit[0] < REPORT_TTL_S:
                return hit[1]
            building = self._building.get(cache_key)
            if building is None:
                building = self._building[cache_key] = threading.Event()
                threading.Thread(target=self._build, args=(cache_key, since, rules, building),
                                 name="console-report", daemon=True).start()
        if hit is not None:
            return hit[1]
        timeout = REPORT_WAIT_S if wait and self._small_store() else 0.0
        if not building.wait(timeout) or cache_key not in self._reports:
            if self._build_error is not None:
                raise self._build_error
            raise ReportPending()
        return self._reports[cache_key][1]

    def _small_store(self) -> bool:
        """Fewer than SMALL_STORE contacts (counted once per console process)."""
        if self._small is None:
            from sqlalchemy import func, select  # noqa: PLC0415

            from worker.store.models import Contact  # noqa: PLC0415

            with self.store.session() as session:
                count = session.scalar(select(func.count()).select_from(
                    select(Contact.id).limit(SMALL_STORE).subquery())) or 0
            self._small = count < SMALL_STORE
        return self._small

    def _build(self, cache_key: str | None, since: datetime | None, rules: RuleSet, done: threading.Event) -> None:
        from worker.report.build import build_report  # noqa: PLC0415

        try:
            entry = [build_report(self.store, rules, now=self.clock(), since=since), None]
            self._build_error = None
            with self._lock:
                self._reports[cache_key] = (time.monotonic(), entry)
            if not self._frozen and not self._small_store():
                # The process holds ~240,000 long-lived objects (modules, ORM mappings, templates,
                # caches); each full (generation 2) garbage collection walks them all and stalls
                # the request that triggered it: 200-350 ms under load, several a minute while
                # pages of 100,000 contacts are served (measured). Frozen once, after the first
                # build at size (most lazy imports are done by then), the cyclic collector skips
                # them; reference counting still frees them as usual.
                gc.collect()
                gc.freeze()
                self._frozen = True
        except LifecycleError as exc:
            self._build_error = exc
        except Exception as exc:  # noqa: BLE001 - a background thread reports, it does not die silently
            log.error("console_report_failed", error=redact(repr(exc)))
            self._build_error = LifecycleError(f"The report could not be built ({type(exc).__name__}).")
        finally:
            with self._lock:
                self._building.pop(cache_key, None)
            done.set()


def _folder_key(folder: Path) -> tuple:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return ("missing", str(folder))
    return tuple((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries
                 if e.name.endswith((".yaml", ".yml")))
