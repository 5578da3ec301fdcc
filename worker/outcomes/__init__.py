"""Outcomes: judge each firing's goal once its window has ended (wiring over the pure core).

    measure(store_or_session, rules, *, now) -> int   # outcomes written
"""

from worker.outcomes.measure import churn_stages, measure

__all__ = ["churn_stages", "measure"]
