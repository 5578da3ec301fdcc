"""When to try a delivery again (pure core): exponential backoff with jitter.

`retry_delay(attempts, …)` is the pause after the `attempts`-th failed attempt:
`base · 2^(attempts-1)`, capped, then spread by ±`JITTER` so deliveries that failed together
do not all come back together. A receiver's `Retry-After` is honoured: the pause is never
shorter than what it asked for (capped too, so a bad header cannot park a delivery forever).
`order_wait` is the short pause of a delivery that waits for an earlier one of the same
contact and target (no attempt is counted for it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

JITTER = 0.2  # ±20 %
ORDER_WAIT_S = 1.0  # re-check a delivery held back by an earlier one after about this long
ORDER_WAIT_JITTER_S = 0.5


def retry_delay(attempts: int, *, base_s: float, cap_s: float, retry_after_s: float | None = None,
                jitter: float = 0.5) -> float:
    """Seconds to wait after failed attempt number `attempts` (1-based).

    `jitter` is a number in [0, 1) (a random draw, passed in so the function stays pure);
    0.5 means no spread.
    """
    exponent = max(0, attempts - 1)
    delay = min(cap_s, base_s * (2 ** min(exponent, 60)))
    delay *= 1 + JITTER * (2 * jitter - 1)
    if retry_after_s is not None:
        delay = max(delay, min(float(retry_after_s), cap_s))
    return max(0.0, delay)


def order_wait_until(now: datetime, blocker_due: datetime | None, jitter: float = 0.5) -> datetime:
    """When a delivery held back by an earlier undelivered one should look again.

    Not before the earlier one's own next attempt (it must go first), and about ORDER_WAIT_S
    after that or after `now`, whichever is later.
    """
    start = max(now, blocker_due) if blocker_due is not None else now
    return start + timedelta(seconds=ORDER_WAIT_S + ORDER_WAIT_JITTER_S * jitter)
