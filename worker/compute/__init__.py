"""Compute: MRR, renewal dates and stages from the stored Stripe mirror (adapter over the pure core).

    recompute(store_or_session, source, stages, *, contact_ids=None, now, at=None)
        -> [(previous ContactSnapshot | None, new ContactSnapshot)] for every changed contact;
           writes ContactState, ContactHistory and SubscriptionHistory.
    compute_snapshots(session, source, stages, *, now, contact_ids=None, explain=False)
        -> [Explained(snapshot, lines)] (read-only; what `accounts` shows)
    unlinked_customers(session, source, stages, *, now, explain=False) -> [Explained]
    monthly_movements(store_or_session, months, fx) -> [{"month", "new", "expansion", …}]
"""

from worker.compute.history import history_rows, monthly_movements, recompute
from worker.compute.snapshots import compute_snapshots, unlinked_customers

__all__ = ["compute_snapshots", "history_rows", "monthly_movements", "recompute", "unlinked_customers"]
