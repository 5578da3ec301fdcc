"""Hypothesis strategies: random automations and occurrences over small shared vocabularies,
so conditions and values collide often and thresholds sit right at the boundaries."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import strategies as st

from worker.core.occurrences import Occurrence
from worker.rules.model import (
    INTERVALS,
    TIME_TRIGGERS,
    TRIGGERS,
    Automation,
    Comparison,
    Conditions,
    interval_token,
)

STAGES = ("trial", "customer", "churn", "paused")
PLANS = ("pro", "team", "price_1AbC", "Enterprise plan")
META_KEYS = ("segment", "region", "a.b")
META_VALUES = ("smb", "ent", "eu", "", 'q"uote', "ü")
EDGES = (0, 86_399, 86_400, 86_401, 3 * 86_400)
#: MRR amounts (3 decimals, as occurrences carry them) and thresholds on and between them.
AMOUNTS = tuple(Decimal(a) for a in ("0", "99.999", "100", "100.001", "150"))
HALF_UNIT = Decimal("0.0005")

mrr_values = st.one_of(st.sampled_from(AMOUNTS),
                       st.integers(-2_000, 400_000).map(lambda n: Decimal(n).scaleb(-3)))
_between = st.sampled_from(AMOUNTS).flatmap(lambda a: st.sampled_from([a - HALF_UNIT, a + HALF_UNIT]))
thresholds = st.one_of(
    st.sampled_from(AMOUNTS), _between, _between,
    st.integers(-20_000, 4_000_000).map(lambda n: Decimal(n).scaleb(-4)),
)
seconds = st.one_of(st.sampled_from(EDGES), st.sampled_from(EDGES), st.integers(0, 40 * 86_400))

#: Most draws use a few triggers so automations and occurrences meet often.
triggers = st.one_of(st.sampled_from(("renewal_due", "past_due_for", "stage_changed")),
                     st.sampled_from(TRIGGERS))
stage_names = st.sampled_from(STAGES)
mrr_values = st.integers(-2_000, 400_000).map(lambda n: Decimal(n).scaleb(-3))
thresholds = st.one_of(
    mrr_values,
    st.integers(-20_000, 4_000_000).map(lambda n: Decimal(n).scaleb(-4)),  # between the units
)
seconds = st.one_of(st.sampled_from(EDGES), st.sampled_from(EDGES).map(lambda s: s + 1),
                    st.integers(0, 40 * 86_400))


def _maybe(strategy):
    """None two times in three: an automation with every condition set rarely matches."""
    return st.one_of(st.none(), st.none(), strategy)


def _names(values, min_size=0):
    return st.lists(st.sampled_from(values), min_size=min_size, max_size=3, unique=True).map(tuple)


# Every strategy is built once here: building them inside a draw made generation 10× slower.
_stage_sets = _names(STAGES, 1)  # empty lists ("one of nothing") are in the table tests
_maybe_stage_sets = st.none() | _stage_sets
_comparisons = st.builds(Comparison, op=st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
                         value=thresholds)
_metadata_conditions = st.dictionaries(st.sampled_from(META_KEYS), _names(META_VALUES, 1),
                                       min_size=1, max_size=2)
conditions = st.builds(
    Conditions,
    stage=_maybe(_stage_sets),
    mrr=_maybe(_comparisons),
    plan=_maybe(_names(PLANS, 1)),
    interval=_maybe(_names(INTERVALS, 1)),
    metadata=_maybe(_metadata_conditions).map(lambda m: m or {}),
)
_micro_extra = st.sampled_from([0, 0, 1, 999_999])
_windows = st.builds(lambda s, us: timedelta(seconds=s, microseconds=us), seconds, _micro_extra)


@st.composite
def _automation(draw) -> Automation:
    on = draw(triggers)
    stage_trigger = on == "stage_changed"
    return Automation(
        name="-", on=on, within=draw(_windows) if on in TIME_TRIGGERS else None,
        from_=draw(_maybe_stage_sets) if stage_trigger else None,
        to=draw(_maybe_stage_sets) if stage_trigger else None,
        conditions=draw(conditions),
    )


def _named(automations: list[Automation]) -> list[Automation]:
    return [a.model_copy(update={"name": f"auto-{i}"}) for i, a in enumerate(automations)]


automation_lists = st.lists(_automation(), max_size=6).map(_named)

_occurrence = st.builds(
    Occurrence,
    trigger=triggers, contact_id=st.just("c"), key=st.just("k"),
    stage=st.none() | stage_names,
    from_stage=st.none() | stage_names, to_stage=st.none() | stage_names,
    mrr=mrr_values,
    plans=_names(PLANS + ("other",) + tuple(interval_token(i) for i in INTERVALS)),
    metadata=st.dictionaries(st.sampled_from(META_KEYS + ("x",)),
                             st.sampled_from(META_VALUES + ("zzz",)), max_size=3),
    seconds_until=st.none() | seconds, seconds_since=st.none() | seconds,
)


def _keyed(occurrences: list[Occurrence]) -> list[Occurrence]:
    return [replace(o, contact_id=f"c{i}", key=f"k{i}") for i, o in enumerate(occurrences)]


occurrence_lists = st.lists(_occurrence, max_size=15).map(_keyed)


@st.composite
def _near(draw, automation: Automation) -> Occurrence:
    """An occurrence built to sit on the edges of `automation`: its trigger, the stage, plan and
    metadata it asks for, MRR and seconds at its thresholds, one unit off or not."""
    cond = automation.conditions
    mrr = draw(mrr_values)
    if cond.mrr is not None:
        edge = cond.mrr.value.quantize(Decimal("0.001"), rounding=draw(st.sampled_from(
            ["ROUND_FLOOR", "ROUND_CEILING"])))
        mrr = edge + draw(st.sampled_from([Decimal(0), Decimal(0), Decimal("0.001"), Decimal("-0.001")]))
    until = since = draw(st.none() | seconds)
    if automation.within is not None:
        whole = int(automation.within.total_seconds())
        until = since = max(0, whole + draw(st.sampled_from([-1, 0, 0, 1])))
    pick = lambda options, other: draw(st.sampled_from(options)) if options else other
    return Occurrence(
        trigger=automation.on, contact_id="c", key="k",
        stage=pick(cond.stage, draw(st.none() | stage_names)),
        from_stage=pick(automation.from_, draw(st.none() | stage_names)),
        to_stage=pick(automation.to, draw(st.none() | stage_names)),
        mrr=mrr,
        plans=(pick(cond.plan, "other"), interval_token(pick(cond.interval, draw(st.sampled_from(INTERVALS))))),
        metadata={k: draw(st.sampled_from(v)) for k, v in cond.metadata.items()},
        seconds_until=until, seconds_since=since,
    )


@st.composite
def cases(draw) -> tuple[list[Automation], list[Occurrence]]:
    """Random automations, and occurrences half of which are built near one of them."""
    automations = draw(automation_lists)
    occurrences = draw(st.lists(_occurrence, max_size=8))
    for _ in range(draw(st.integers(1, 10)) if automations else 0):
        occurrences.append(draw(_near(draw(st.sampled_from(automations)))))
    return automations, _keyed(draw(st.permutations(occurrences)))
