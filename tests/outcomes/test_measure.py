"""Outcome measurement from constructed history rows: each goal kind's success and failure,
windows not yet ended, holdout measured alike, no goal → not measured, idempotence."""

from __future__ import annotations

from sqlalchemy import event, select

from tests.outcomes.builders import DAY, RULES, T0, History, sub_json
from worker.outcomes import measure
from worker.store.models import Firing, Outcome

D = T0 + 10 * DAY  # the renewal date at firing
AFTER_RENEWAL_WINDOW = D + 3 * DAY + DAY
AFTER_90 = T0 + 91 * DAY


def _outcomes(store) -> dict[str, Outcome]:
    """Outcome rows by the contact id of their firing."""
    with store.session() as session:
        return dict(session.execute(select(Firing.contact_id, Outcome).join(Outcome)).all())


def _renewal_case(h: History, contact: str, *, renewed: bool, canceled_after: bool = False, arm: str = "treated"):
    h.contact(contact)
    h.stage_at(contact, T0 - 30 * DAY, "customer", 10000, renewal=D)
    h.sub_at(f"sub_{contact}", contact, T0 - 30 * DAY, "active", D)
    h.sub_at(f"sub_{contact}_other", contact, T0 - 30 * DAY, "active", D + 20 * DAY)
    if renewed:
        h.sub_at(f"sub_{contact}", contact, D + DAY, "active", D + 31 * DAY)
    else:
        h.sub_at(f"sub_{contact}", contact, D, "canceled", D, mrr=0, renewal=None)
    if canceled_after:
        h.sub_at(f"sub_{contact}", contact, D + 2 * DAY, "canceled", D + 31 * DAY, mrr=0, renewal=None)
    h.fire("renewal-heads-up", contact, goal="renewal", arm=arm, renewal=D,
           subscriptions=[sub_json(f"sub_{contact}", D), sub_json(f"sub_{contact}_other", D + 20 * DAY)])


def test_every_goal_kind_success_and_failure_from_history(store):
    """Runs on SQLite and PostgreSQL."""
    with store.session() as session:
        h = History(session)
        _renewal_case(h, "renewed", renewed=True)
        _renewal_case(h, "lapsed", renewed=False)
        _renewal_case(h, "renewed-then-canceled", renewed=True, canceled_after=True)
        _renewal_case(h, "holdout-renewed", renewed=True, arm="holdout")
        for contact, later in (("retained", "customer"), ("churned", "churn")):
            h.contact(contact)
            h.stage_at(contact, T0 - DAY, "customer", 5000)
            h.stage_at(contact, T0 + 40 * DAY, later, 5000 if later == "customer" else 0)
            h.fire("save", contact, goal="retention", mrr=5000)
        for contact, mrr_end in (("expanded", 8000), ("flat", 5000), ("contracted", 3000)):
            h.contact(contact)
            h.stage_at(contact, T0 - DAY, "customer", 5000)
            h.stage_at(contact, T0 + 20 * DAY, "customer", mrr_end)
            h.fire("upsell", contact, goal="expansion", mrr=5000)
        for contact, converted_on in (("converted", T0 + 12 * DAY), ("converted-late", T0 + 45 * DAY)):
            h.contact(contact)
            h.stage_at(contact, T0 - 5 * DAY, "trial", 0)
            h.stage_at(contact, converted_on, "customer", 4000)
            h.fire("trial-nudge", contact, goal="conversion", stage="trial", mrr=0)
    written = measure(store, RULES, now=AFTER_90)
    found = _outcomes(store)
    assert written == 11 == len(found)
    succeeded = {name for name, outcome in found.items() if outcome.succeeded}
    assert succeeded == {"renewed", "holdout-renewed", "retained", "expanded", "converted"}
    assert found["renewed"].window_end == D + 3 * DAY
    assert found["renewed"].detail["subscription_id"] == "sub_renewed"  # the one that set the date
    assert found["retained"].window_end == T0 + 90 * DAY
    assert found["converted-late"].window_end == T0 + 30 * DAY
    assert (found["expanded"].mrr_at_fire_minor, found["expanded"].mrr_at_end_minor) == (5000, 8000)
    assert (found["churned"].mrr_at_fire_minor, found["churned"].mrr_at_end_minor) == (5000, 0)
    assert found["expanded"].currency == "usd"
    assert measure(store, RULES, now=AFTER_90 + DAY) == 0  # measured once


def test_window_not_ended_is_not_measured(sqlite_store):
    with sqlite_store.session() as session:
        h = History(session)
        _renewal_case(h, "renewing", renewed=True)
        h.contact("keep")
        h.stage_at("keep", T0 - DAY, "customer", 5000)
        h.fire("save", "keep", goal="retention", mrr=5000)
    assert measure(sqlite_store, RULES, now=D + 2 * DAY) == 0  # renewal window ends at D + 3 days
    assert measure(sqlite_store, RULES, now=D + 3 * DAY) == 1
    assert set(_outcomes(sqlite_store)) == {"renewing"}
    assert measure(sqlite_store, RULES, now=T0 + 90 * DAY - DAY) == 0
    assert measure(sqlite_store, RULES, now=T0 + 90 * DAY) == 1


def test_outcome_is_judged_as_of_the_window_end_not_later(sqlite_store):
    with sqlite_store.session() as session:
        h = History(session)
        h.contact("c1")
        h.stage_at("c1", T0 - DAY, "customer", 5000)
        h.stage_at("c1", T0 + 95 * DAY, "churn", 0)  # after the 90-day window
        h.fire("save", "c1", goal="retention", mrr=5000)
    measure(sqlite_store, RULES, now=T0 + 200 * DAY)
    outcome = _outcomes(sqlite_store)["c1"]
    assert outcome.succeeded is True
    assert outcome.mrr_at_end_minor == 5000


def test_holdout_firings_are_measured_like_treated_ones(sqlite_store):
    with sqlite_store.session() as session:
        h = History(session)
        for contact, arm in (("t", "treated"), ("h", "holdout")):
            h.contact(contact)
            h.stage_at(contact, T0 - DAY, "customer", 5000)
            h.stage_at(contact, T0 + 10 * DAY, "churn", 0)
            h.fire("save", contact, goal="retention", arm=arm, mrr=5000)
    assert measure(sqlite_store, RULES, now=AFTER_90) == 2
    found = _outcomes(sqlite_store)
    assert found["t"].succeeded is found["h"].succeeded is False
    assert found["h"].mrr_at_end_minor == 0


def test_firing_without_goal_is_never_measured(store):
    """Runs on SQLite and PostgreSQL (the goal column holds JSON null)."""
    with store.session() as session:
        h = History(session)
        for contact in ("c1", "c2"):
            h.contact(contact)
            h.stage_at(contact, T0 - DAY, "customer", 5000)
        h.fire("notify-only", "c1", goal=None)
        h.fire("save", "c2", goal="retention")
    assert measure(store, RULES, now=T0 + 400 * DAY) == 1
    assert set(_outcomes(store)) == {"c2"}


def test_exchange_rate_move_alone_is_not_expansion(sqlite_store):
    with sqlite_store.session() as session:
        h = History(session)
        h.contact("eu")
        h.stage_at("eu", T0 - DAY, "customer", 10800, "usd", native={"eur": 5000, "usd": 5400})
        h.stage_at("eu", T0 + 5 * DAY, "customer", 11000, "usd", native={"eur": 5000, "usd": 5400})
        h.fire("upsell", "eu", goal="expansion", mrr=10800)
    measure(sqlite_store, RULES, now=AFTER_90)
    outcome = _outcomes(sqlite_store)["eu"]
    assert outcome.succeeded is False
    assert outcome.mrr_at_fire_minor == outcome.mrr_at_end_minor == 10800  # 5000 EUR × 1.08 + 54.00 USD


def test_renewal_goal_on_a_cancellation_uses_the_firings_subscription_period_end(sqlite_store):
    with sqlite_store.session() as session:
        h = History(session)
        h.contact("c1")
        h.stage_at("c1", T0 - DAY, "customer", 5000)
        h.sub_at("sub_1", "c1", T0 - DAY, "active", D, renewal=None, cancel_at_period_end=True)
        h.sub_at("sub_1", "c1", T0 + 2 * DAY, "active", D)  # cancellation undone
        h.sub_at("sub_1", "c1", D + DAY, "active", D + 30 * DAY)  # renewed
        h.fire("win-back", "c1", goal="renewal", subscription_id="sub_1", renewal=None,
               subscriptions=[sub_json("sub_1", None)])
    assert measure(sqlite_store, RULES, now=D + 3 * DAY) == 1
    outcome = _outcomes(sqlite_store)["c1"]
    assert outcome.succeeded is True
    assert outcome.detail["renewal_date"] == "2026-06-11T12:00:00Z"


def test_conversion_counts_a_change_observed_after_the_firing_with_an_earlier_stripe_time(sqlite_store):
    with sqlite_store.session() as session:
        h = History(session)
        h.contact("c1")
        h.stage_at("c1", T0 - 5 * DAY, "trial", 0)
        # Stripe says it happened a minute before the firing; we learnt it an hour after.
        h.stage_at("c1", T0 - DAY / 1440, "customer", 4000, observed=T0 + DAY / 24)
        h.fire("trial-nudge", "c1", goal="conversion", stage="trial", mrr=0)
    measure(sqlite_store, RULES, now=T0 + 31 * DAY)
    assert _outcomes(sqlite_store)["c1"].succeeded is True


def test_firings_recorded_by_the_automation_log_are_measured(sqlite_store):
    """The firing log's own rows (record_firing: snapshot and goal shapes) feed the measurement."""
    from decimal import Decimal

    from tests.triggers.builders import contact, sub
    from worker.automations.firing import record_firing
    from worker.core.occurrences import Occurrence
    from worker.rules.model import Automation, Goal

    snapshot = contact("customer", sub("sub_1", renewal=D), sub("sub_2", renewal=D + 40 * DAY))
    occurrence = Occurrence(trigger="renewal_due", contact_id="c1", key=f"renewal_due:{D.isoformat()}", due_at=D)
    with sqlite_store.session() as session:
        h = History(session)
        h.contact("c1")
        h.stage_at("c1", T0 - DAY, "customer", snapshot.mrr_minor, renewal=D)
        h.sub_at("sub_1", "c1", T0 - DAY, "active", D)
        h.sub_at("sub_1", "c1", D + DAY / 2, "active", D + 30 * DAY)  # renewed
        for name, holdout in (("heads-up", Decimal(0)), ("heads-up-control", Decimal(1))):
            automation = Automation(name=name, on="renewal_due", within=30 * DAY, goal=Goal(kind="renewal"),
                                    holdout=holdout)
            assert record_firing(session, automation, occurrence, snapshot, now=T0) is not None
    assert measure(sqlite_store, RULES, now=D + 3 * DAY) == 2
    with sqlite_store.session() as session:
        rows = session.execute(select(Firing.arm, Outcome).join(Outcome)).all()
    assert sorted(arm for arm, _ in rows) == ["holdout", "treated"]
    for _, outcome in rows:
        assert outcome.succeeded is True
        assert outcome.detail["subscription_id"] == "sub_1"
        assert outcome.mrr_at_fire_minor == snapshot.mrr_minor == 20000


def test_firings_inside_their_window_or_never_judgeable_are_not_even_loaded(sqlite_store):
    """Only firings whose stored window_end has passed are read; the others are left in the
    database (a firing with no date to renew past has no window_end and is never read)."""
    with sqlite_store.session() as session:
        h = History(session)
        _renewal_case(h, "renewing", renewed=True)  # window ends D + 3 days
        h.contact("keep")
        h.stage_at("keep", T0 - DAY, "customer", 5000)
        h.fire("save", "keep", goal="retention", mrr=5000)  # window ends T0 + 90 days
        h.contact("undated")
        h.fire("renewal-heads-up", "undated", goal="renewal", renewal=None)  # no date: never judged
    with sqlite_store.session() as session:
        ends = dict(session.execute(select(Firing.contact_id, Firing.window_end)).all())
    assert ends == {"renewing": D + 3 * DAY, "keep": T0 + 90 * DAY, "undated": None}
    loaded: list[str] = []

    def on_load(firing, _context) -> None:
        loaded.append(firing.contact_id)

    event.listen(Firing, "load", on_load)
    try:
        assert measure(sqlite_store, RULES, now=D + 3 * DAY) == 1
        assert loaded == ["renewing"]
        loaded.clear()
        assert measure(sqlite_store, RULES, now=T0 + 90 * DAY) == 1
        assert loaded == ["keep"]  # "renewing" has its outcome; "undated" is never read
    finally:
        event.remove(Firing, "load", on_load)
