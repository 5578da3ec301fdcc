"""Automations → durable_rules ruleset definitions, and occurrences → events (engine adapter).

durable_rules consumes an event with the first rule that matches it, so each automation gets a
ruleset of its own with one single-event rule; an occurrence is posted once to every ruleset
whose automation listens to its trigger.

Events hold only integers under short ASCII names, so no string ever reaches the C core's
parser and equality is exact:

- strings the rules mention (trigger names, stages, plans, metadata keys and values) get ids in
  a `Vocabulary`; a value no rule mentions is left out of the event (stages and metadata are
  only compared for equality, which a missing field fails) and can match nothing;
- `mrr` is the Decimal major-unit amount × 1000 (exact for currencies of ≤ 3 decimals, which is
  every currency's minor unit); a threshold between two integers compiles to the ceiling or
  floor, so `mrr >= 100.0005` means exactly what it says;
- `within` compares whole seconds: `seconds_until ≤ floor(within)` for the forward windows,
  `seconds_since ≥ ceil(within)` for `past_due_for`.

Absent fields (an occurrence without `seconds_until`, a contact without the metadata key) are
left out of the event; durable_rules does not match a condition on a missing field. Events are
built as JSON text by `event_body` (one string per occurrence, reused for every ruleset).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from worker.core.occurrences import Occurrence
from worker.errors import LifecycleError
from worker.rules.model import interval_token

MRR_SCALE = 1000
#: The C parser refuses an object of 255 members; in a batch (`assert_events`) a refused event
#: silently ends the batch, so events stay far below it: ≤ 9 fixed members + these flags.
MAX_FLAGS = 200
_US = 1_000_000
FORWARD_WINDOWS = frozenset({"renewal_due", "trial_ending"})
BACKWARD_WINDOWS = frozenset({"past_due_for"})
#: A condition no event satisfies (ids are ≥ -1): `stage: []` and the like, `mrr == 1.0005`.
NEVER: dict[str, Any] = {"t": -2}
_OPS = {"==": None, "!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


class EngineError(LifecycleError):
    """The rules engine refused an automation or an occurrence, or misbehaved."""


class Vocabulary:
    """Ids for every string the automations mention; metadata keys get their own indexes."""

    def __init__(self, automations: Sequence) -> None:
        self.ids: dict[str, int] = {}
        self.meta_keys: dict[str, int] = {}
        for automation in automations:
            self._take(automation)

    def _take(self, automation) -> None:
        conditions = automation.conditions
        words = [automation.on, *(automation.from_ or ()), *(automation.to or ()),
                 *(conditions.stage or ()), *(conditions.plan or ()),
                 *(interval_token(i) for i in conditions.interval or ())]
        for key, values in conditions.metadata.items():
            self.meta_keys.setdefault(key, len(self.meta_keys))
            words.extend(values)
        for word in words:
            self.ids.setdefault(word, len(self.ids))

    def id(self, word: str | None) -> int:
        return -1 if word is None else self.ids.get(word, -1)


def mrr_units(amount: Decimal) -> int:
    """`amount` × 1000 as an int; more than 3 decimals cannot come from a minor unit."""
    scaled = amount * MRR_SCALE
    if scaled != scaled.to_integral_value():
        raise EngineError(f"MRR {amount} has more than 3 decimals; occurrences carry minor units.")
    return int(scaled)


def event_body(occurrence: Occurrence, vocab: Vocabulary, mrr: dict[Decimal, int] | None = None) -> str:
    """The JSON members of the event posted for `occurrence`, without braces or the event id.

    Built as text directly (every value is an int, so there is nothing to escape): this runs
    once per occurrence on the hot path, and `json.dumps` of a dict cost ~4× as much.
    `mrr` is an optional cache of `mrr_units` (MRR values repeat across contacts).
    """
    ids = vocab.ids
    if len(occurrence.plans) + len(vocab.meta_keys) > MAX_FLAGS:
        raise EngineError(f"Occurrence {occurrence.key} has too many plans and metadata keys for the "
                          f"rules engine (at most {MAX_FLAGS}).")
    stage, from_stage, to_stage = occurrence.stage, occurrence.from_stage, occurrence.to_stage
    amount = occurrence.mrr
    units = mrr.get(amount) if mrr is not None else None
    if units is None:
        units = mrr_units(amount)
        if mrr is not None:
            if len(mrr) >= 4096:  # bounded: memory stays flat with any spread of amounts
                mrr.clear()
            mrr[amount] = units
    text = f'"t":{ids.get(occurrence.trigger, -1)},"mrr":{units}'
    # A stage or metadata value no rule mentions is left out rather than posted as -1: those
    # fields are only ever compared for equality with an id (≥ 0), which a missing field
    # fails exactly as -1 does, and every member less is less work for the C parser.
    if stage is not None and (i := ids.get(stage)) is not None:
        text += f',"st":{i}'
    if from_stage is not None and (i := ids.get(from_stage)) is not None:
        text += f',"fs":{i}'
    if to_stage is not None and (i := ids.get(to_stage)) is not None:
        text += f',"ts":{i}'
    if occurrence.seconds_until is not None:
        text += f',"su":{_whole(occurrence.seconds_until)}'
    if occurrence.seconds_since is not None:
        text += f',"ss":{_whole(occurrence.seconds_since)}'
    plans = occurrence.plans
    if len(plans) == 1:
        if (i := ids.get(plans[0])) is not None:
            text += f',"p{i}":1'
    elif plans:  # each flag once, even if a plan is listed twice
        text += "".join(f',"p{i}":1' for i in sorted({ids[p] for p in plans if p in ids}))
    if vocab.meta_keys:
        metadata = occurrence.metadata
        for key, index in vocab.meta_keys.items():
            value = metadata.get(key)
            if value is not None and (i := ids.get(value)) is not None:
                text += f',"m{index}":{i}'
    return text


def _whole(seconds: int) -> int:
    if type(seconds) is not int:
        raise EngineError(f"Occurrences carry whole seconds, not {seconds!r}.")
    return seconds


def _any_of(field: str, ids: Iterable[int]) -> dict[str, Any]:
    options = [{field: i} for i in ids]
    if not options:
        return NEVER
    return options[0] if len(options) == 1 else {"$or": options}


def _within(automation) -> dict[str, Any] | None:
    if automation.within is None:
        return None
    micros = _micros(automation.within)
    if automation.on in FORWARD_WINDOWS:
        return {"$lte": {"su": micros // _US}}
    if automation.on in BACKWARD_WINDOWS:
        return {"$gte": {"ss": -(-micros // _US)}}
    return None


def _micros(span) -> int:
    return span.days * 86_400 * _US + span.seconds * _US + span.microseconds


def _mrr(comparison) -> dict[str, Any] | None:
    scaled = comparison.value * MRR_SCALE
    op = comparison.op
    if scaled == scaled.to_integral_value():
        units = int(scaled)
        return {"mrr": units} if op == "==" else {_OPS[op]: {"mrr": units}}
    if op == "==":
        return NEVER
    if op == "!=":
        return None  # an integer is never equal to a non-integer: always true
    if op in (">", ">="):
        return {"$gte": {"mrr": int(scaled.to_integral_value(rounding="ROUND_CEILING"))}}
    return {"$lte": {"mrr": int(scaled.to_integral_value(rounding="ROUND_FLOOR"))}}


def condition(automation, vocab: Vocabulary) -> dict[str, Any]:
    """The single-event pattern of one automation."""
    ids = vocab.ids
    conditions = automation.conditions
    parts: list[dict[str, Any] | None] = [{"t": ids[automation.on]}, _within(automation)]
    if automation.from_ is not None:
        parts.append(_any_of("fs", (ids[s] for s in automation.from_)))
    if automation.to is not None:
        parts.append(_any_of("ts", (ids[s] for s in automation.to)))
    if conditions.stage is not None:
        parts.append(_any_of("st", (ids[s] for s in conditions.stage)))
    if conditions.mrr is not None:
        parts.append(_mrr(conditions.mrr))
    if conditions.plan is not None:
        parts.append(_any_of_flags(ids[p] for p in conditions.plan))
    if conditions.interval is not None:
        parts.append(_any_of_flags(ids[interval_token(i)] for i in conditions.interval))
    for key, values in conditions.metadata.items():
        parts.append(_any_of(f"m{vocab.meta_keys[key]}", (ids[v] for v in values)))
    present = [p for p in parts if p is not None]
    return present[0] if len(present) == 1 else {"$and": present}


def _any_of_flags(plan_ids: Iterable[int]) -> dict[str, Any]:
    options = [{f"p{i}": 1} for i in dict.fromkeys(plan_ids)]
    if not options:
        return NEVER
    return options[0] if len(options) == 1 else {"$or": options}


def ruleset_name(index: int) -> str:
    return f"a{index}"


def rulesets(automations: Sequence, vocab: Vocabulary) -> dict[str, dict[str, Any]]:
    """One ruleset per automation (`a<index>`), one rule `r` whose action is the same name."""
    return {
        ruleset_name(i): {"r": {"all": [{"m": condition(a, vocab)}], "run": ruleset_name(i)}}
        for i, a in enumerate(automations)
    }
