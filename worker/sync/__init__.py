"""Stripe sync (wiring): full backfill/reconcile, incremental sync from events, webhook re-fetch.

Entry points: `run_sync`, `refetch`, `needs_reconcile` (with `load_status`), `SyncReport`.
See docs/sync.md.
"""

from worker.sync.lock import SyncBusy
from worker.sync.run import SyncReport
from worker.sync.runner import (
    api_from_settings,
    load_source_config,
    refetch,
    refetch_from_settings,
    run_sync,
    sync_from_settings,
)
from worker.sync.state import load_status, needs_reconcile

__all__ = ["SyncBusy", "SyncReport", "api_from_settings", "load_source_config", "load_status", "needs_reconcile",
           "refetch", "refetch_from_settings", "run_sync", "sync_from_settings"]
