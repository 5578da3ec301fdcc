"""`contact_state.mrr_sort`: each contact's MRR in the reporting currency, stored so the console
sorts by MRR with an index (ix_contact_state_mrr_sort) instead of converting every row per request.

Why a stored value needs care: the FX rates come from stripe.yaml and can change. Each row
therefore records which FX table its value was computed with (`mrr_fx`, a digest of the
reporting currency and the rates). The value is written with the snapshot (the compute layer
knows the rules' FX), and a reader that holds other rules (the rates changed since) finds the
rows whose digest differs and recomputes them in SQL (`refresh`): few rows inline; after a rate
change (every row differs) the console sorts with the per-row conversion until a background
refresh is done, so the order shown is always the one the current rates give.

The value is `mrr_minor × factor`, the factor being the exact conversion of one minor unit
(`FxTable.convert_minor(1, code)`) rounded to 12 decimals; a currency without a rate keeps its
amount (factor 1), as before. It serves ordering only: totals are still summed per currency.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from sqlalchemy import Numeric, case, literal, or_, select, update
from sqlalchemy.orm import Session

from worker.core.money import FxTable
from worker.errors import LifecycleError
from worker.store.models import ContactState

PLACES = Decimal("1e-12")
INLINE_REFRESH_MAX = 2000  # more stale rows than this: refreshed in the background, not in a request


def factors(fx: FxTable) -> dict[str, Decimal]:
    """Currency → the value of one of its minor units in the reporting currency's minor unit."""
    found: dict[str, Decimal] = {}
    for code in sorted({fx.currency.lower(), *(k.lower() for k in fx.rates)}):
        try:
            exact = fx.convert_minor(1, code)
        except LifecycleError:
            continue
        found[code] = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(PLACES)
    return found


def fx_key(fx: FxTable) -> str:
    """A digest of the reporting currency and its rates: equal digests, equal stored values."""
    text = fx.currency.lower() + ";" + ";".join(f"{c}={f}" for c, f in sorted(factors(fx).items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sort_value(fx: FxTable, mrr_minor: int, currency: str, table: dict[str, Decimal] | None = None) -> Decimal:
    factor = (table if table is not None else factors(fx)).get((currency or "").lower(), Decimal(1))
    return (Decimal(mrr_minor) * factor).quantize(PLACES)


def expression(fx: FxTable):  # noqa: ANN201
    """The same value computed per row in SQL (for ordering while rows are being refreshed)."""
    whens = [(ContactState.currency == code, ContactState.mrr_minor * literal(factor, Numeric(38, 12)))
             for code, factor in factors(fx).items()]
    return case(*whens, else_=ContactState.mrr_minor * literal(Decimal(1), Numeric(38, 12)))


def _stale_condition(key: str):  # noqa: ANN202
    # `<` or `>` rather than `!=`, so the btree index on mrr_fx answers it (nothing stale: no rows read).
    return or_(ContactState.mrr_fx.is_(None), ContactState.mrr_fx < key, ContactState.mrr_fx > key)


def stale_count(session: Session, fx: FxTable, *, limit: int = INLINE_REFRESH_MAX + 1) -> int:
    """How many rows hold a value computed with other rates (counted up to `limit`)."""
    found = select(ContactState.contact_id).where(_stale_condition(fx_key(fx))).limit(limit).subquery()
    return len(session.execute(select(found.c.contact_id)).all())


def refresh(session: Session, fx: FxTable, *, limit: int | None = None) -> int:
    """Recompute stale rows' values with `fx` in one UPDATE (at most `limit` rows, so a caller
    can commit batch by batch and hold few row locks at a time); returns how many rows."""
    key = fx_key(fx)
    where = _stale_condition(key)
    if limit is not None:
        where = ContactState.contact_id.in_(select(ContactState.contact_id).where(where).limit(limit)
                                            .scalar_subquery())
    done = session.execute(update(ContactState).where(where)
                           .values(mrr_sort=expression(fx), mrr_fx=key).execution_options(synchronize_session=False))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


class Writer:
    """Computes the value for each snapshot written with one FX table (factors worked out once)."""

    def __init__(self, fx: FxTable) -> None:
        self.table = factors(fx)
        self.key = fx_key(fx)
        self.fx = fx

    def value(self, mrr_minor: int, currency: str) -> Decimal:
        return sort_value(self.fx, mrr_minor, currency, self.table)
