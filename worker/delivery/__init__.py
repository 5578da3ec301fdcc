"""The outbox delivery layer: delivery rows for actions and destination pushes, delivering them
at least once with stable idempotency keys, retries with backoff, dead letters, order per
contact and target, and a reconciler that rebuilds lost queue messages from the database.

Public API (the evaluate step and the processes call these):

- `action_idempotency_key(firing_id, index) -> str`
- `create_action_deliveries(session, firing, actions, now) -> list[int]`
- `destination_pushes(prev, new, destinations) -> list[Push]` (pure) and
  `create_destination_deliveries(session, snapshot, pushes, now) -> list[int]`
- `enqueue_new(store, enqueue, ids) -> int`, `redeliver(store, enqueue, now, stale_after=…) -> int`
- `deliver_one(store, rules, delivery_id, *, now, settings, http=None) -> str`
- `deliver_pending(store, rules, now, settings, *, http=None) -> dict[str, int]`
- `worker.delivery.batch.attempt_batch(store, rules, ids, *, now, settings, http=None)`: a
  batch of rows as one unit of work (one claim, one result statement), `-> {id: Outcome}`;
  a single delivery (`attempt`, `deliver_one`) is a batch of one
- `worker.delivery.service`: the use-cases over the process's `Runtime` (what the actors run).
"""

from worker.delivery.destinations import (
    Push,
    create_destination_deliveries,
    destination_pushes,
)
from worker.delivery.keys import action_idempotency_key, destination_idempotency_key
from worker.delivery.outbox import (
    action_target,
    create_action_deliveries,
    deliver_pending,
    enqueue_new,
    redeliver,
)
from worker.delivery.batch import attempt, deliver_one
from worker.delivery.sending import DeliveryPolicy, Outcome

__all__ = [
    "DeliveryPolicy", "Outcome", "Push", "action_idempotency_key", "action_target", "attempt",
    "create_action_deliveries", "create_destination_deliveries", "deliver_one", "deliver_pending",
    "destination_idempotency_key", "destination_pushes", "enqueue_new", "redeliver",
]
