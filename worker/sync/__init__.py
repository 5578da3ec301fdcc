"""Stripe sync (wiring): full backfill/reconcile, incremental sync from events, webhook re-fetch.

Entry points: `run_sync`, `refetch`, `needs_reconcile` (with `load_status`), `SyncReport`; the
use-cases over a `Runtime` are in `worker.sync.service`.
See docs/sync.md.
"""

from worker.sync.lock import SyncBusy
from worker.sync.run import SyncReport
from worker.sync.runner import refetch, run_sync
from worker.sync.state import load_status, needs_reconcile

__all__ = ["SyncBusy", "SyncReport", "load_status", "needs_reconcile", "refetch", "run_sync"]
