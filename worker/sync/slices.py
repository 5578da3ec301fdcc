"""Large lists cut into `created` ranges, fetched at once by the backfill (wiring).

One thread paging through 100,000 customers waits on one request at a time: against Stripe
(a few hundred ms per list request) that is a few requests per second, far below
STRIPE_MAX_RPS, whatever the limiter allows. So a list with more than one page (customers and
subscriptions) is cut into SLICES ranges of `created`, each paged by its own fetching thread
under the same shared limiter (worker.sync.fetch, worker.stripe_api.ratelimit).

- **Edges.** Stripe's `created` filter is per second, with `gte`/`lt`: the slices are
  `[−∞, b1) [b1, b2) … [bN−1, +∞)` as `created[lt]=b1`, `created[gte]=b1&created[lt]=b2`, …,
  `created[gte]=bN−1`: disjoint, and together every object — one created during the backfill
  lands in the last, open slice; one older than the probe's guess in the first.
- **Boundaries.** The newest object's `created` (a 100-object page: when it is the whole list,
  the list is not cut), the oldest found to the day by bisection with one-object requests
  (`created[lt]=t&limit=1`, about 13 requests), the span between cut into equal time ranges.
- **Resume.** The boundaries are stored in the backfill state (`slices`) the first time, and
  each slice has its own paging position (`after["customers@2"]`) and joins `done` when read,
  so a killed backfill resumes every slice where it was. A list a previous version began
  unsliced (a position under its plain name) is finished unsliced.
- **Contact names.** A contact the sync creates takes the name and email of the first of its
  customers written; read newest first, that is its newest customer. Slices are written in
  the order they arrive, so after a sliced customers list `name_new_contacts` gives each
  contact this backfill created its newest customer's name and email (latest `created`, then
  greatest id): the same contacts as an unsliced backfill, whatever the threads' timing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from worker.store.evaluation_queue import queue_contacts
from worker.store.models import Contact, StripeCustomer
from worker.sync.source import StripeSource

SLICED = ("customers", "subscriptions")
SLICES = 4
EPOCH = 1293840000  # 2011-01-01 UTC: no Stripe object is older
PRECISION = 86400  # the oldest object is found to the day


@dataclass(frozen=True)
class Slice:
    """One list (`kind`) or one `created` range of it, paged under `key`."""

    key: str
    kind: str
    created: dict[str, int] | None = None


def kind_of(key: str) -> str:
    return key.split("@", 1)[0]


def plan(source: StripeSource, state: dict, phases: list[str], slices: int | None = None) -> tuple[dict, list[Slice]]:
    """The slices of these lists still to read, and the state with any new boundaries in it
    (the caller stores it before fetching). `slices`: ranges per large list (SLICES)."""
    slices = SLICES if slices is None else slices
    stored: dict[str, list[int]] = dict(state.get("slices") or {})
    found: list[Slice] = []
    probe = [kind for kind in phases
             if kind in SLICED and kind not in state["after"] and kind not in stored and slices > 1]
    if probe:  # each list's ~14 sequential probe requests, the lists side by side
        with ThreadPoolExecutor(max_workers=len(probe), thread_name_prefix="backfill-probe") as pool:
            stored.update(zip(probe, pool.map(lambda kind: boundaries(source, kind, slices), probe)))
    for kind in phases:
        if kind in stored and stored[kind]:
            edges = stored[kind]
            for index, created in enumerate(_ranges(edges)):
                key = f"{kind}@{index}"
                if key not in state["done"]:
                    found.append(Slice(key, kind, created))
        else:
            found.append(Slice(kind, kind))
    return {**state, "slices": stored}, found


def _ranges(edges: list[Any]) -> list[dict[str, int]]:
    """[b1, …, bN−1] → the N `created` filters."""
    ranges: list[dict[str, int]] = []
    low = None
    for edge in [*edges, None]:
        created: dict[str, int] = {}
        if low is not None:
            created["gte"] = int(low)
        if edge is not None:
            created["lt"] = int(edge)
        ranges.append(created)
        low = edge
    return ranges


def boundaries(source: StripeSource, kind: str, slices: int) -> list[int]:
    """The inner boundaries [b1, …] cutting this list into `slices` equal time ranges, or []
    (one range: the list fits in one page, or has no spread in time)."""
    path, params = source.list_spec(kind)
    params = {k: v for k, v in params.items() if k != "expand"}  # a probe needs no expansions
    first = source.api.get(path, {**params, "limit": 100})
    data = first.get("data") or []
    if not first.get("has_more") or not data or not isinstance(data[0], dict):
        return []
    newest = int(data[0]["created"])
    low, high = EPOCH, newest + 1  # an object is older than `high`; none (we assume) than `low`
    while high - low > PRECISION:
        middle = (low + high) // 2
        if source.api.get(path, {**params, "limit": 1, "created": {"lt": middle}}).get("data"):
            high = middle
        else:
            low = middle
    oldest, end = low, newest + 1
    if end - oldest < slices:
        return []
    return [oldest + (end - oldest) * i // slices for i in range(1, slices)]


def name_new_contacts(session: Session, since: datetime, chunk: int = 1000) -> int:
    """Give each contact the sync created since `since` (source 'stripe') the name and email
    of its newest customer; how many changed. A chunk of contacts at a time (PostgreSQL: one
    statement, a tenth of the time the chunks took at 30,000 contacts)."""
    if session.get_bind().dialect.name == "postgresql":
        return _name_new_contacts_pg(session, since)
    changed, after = 0, ""
    while True:
        ids = list(session.scalars(select(Contact.id).where(Contact.source == "stripe", Contact.created_at >= since,
                                                             Contact.id > after).order_by(Contact.id).limit(chunk)))
        if not ids:
            return changed
        after = ids[-1]
        current = {cid: (name, email) for cid, name, email in
                   session.execute(select(Contact.id, Contact.name, Contact.email).where(Contact.id.in_(ids)))}
        newest: dict[str, tuple[str | None, str | None]] = {}
        query = (select(StripeCustomer.contact_id, StripeCustomer.name, StripeCustomer.email)
                 .where(StripeCustomer.contact_id.in_(ids))
                 .order_by(StripeCustomer.contact_id, StripeCustomer.created.desc(), StripeCustomer.id.desc()))
        for contact_id, name, email in session.execute(query):
            newest.setdefault(contact_id or "", (name, email))
        for contact_id, (name, email) in newest.items():
            if current.get(contact_id) != (name, email):
                session.execute(update(Contact).where(Contact.id == contact_id).values(name=name, email=email))
                queue_contacts(session, [contact_id], since)
                changed += 1


_NAME_NEW_CONTACTS = text("""
WITH newest AS (
    SELECT DISTINCT ON (c.contact_id) c.contact_id, c.name, c.email
    FROM stripe_customers c JOIN contacts k ON k.id = c.contact_id
    WHERE k.source = 'stripe' AND k.created_at >= :since
    ORDER BY c.contact_id, c.created DESC, c.id DESC
)
UPDATE contacts SET name = newest.name, email = newest.email
FROM newest
WHERE contacts.id = newest.contact_id
  AND (contacts.name IS DISTINCT FROM newest.name OR contacts.email IS DISTINCT FROM newest.email)
RETURNING contacts.id
""")


def _name_new_contacts_pg(session: Session, since: datetime) -> int:
    """`name_new_contacts` as one UPDATE … FROM (newest customer per contact)."""
    changed = list(session.scalars(_NAME_NEW_CONTACTS, {"since": since}))
    queue_contacts(session, changed, since)
    return len(changed)
