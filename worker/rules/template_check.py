"""Templates checked when rules load, by rendering them (wiring: rules → actions' templates).

A template that cannot render is found at send time otherwise, when its delivery goes dead
and the occurrence never fires again. So every templated action parameter is compiled
(unknown filters), scanned for attribute access the sandbox forbids (`__class__`, `mro`, …,
also in branches a sample would not take), and rendered against a sample contact — and a
sample subscription when the automation's trigger has one — with strict undefined and the
rendering limits. Each problem is a FILE:LINE error naming the parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jinja2 import TemplateError, nodes
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_FUNCTION_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_METHOD_ATTRIBUTES,
)

from actions.templates import _ENV, is_template, render_limited
from worker.rules.handlers import plain
from worker.rules.problems import line_at

#: Triggers whose firing carries a subscription (`subscription` is null for the others).
SUBSCRIPTION_TRIGGERS = frozenset({"renewal_due", "trial_ending", "cancellation_scheduled",
                                   "cancellation_unscheduled", "canceled", "payment_failed", "past_due_for"})
_UNSAFE = (UNSAFE_FUNCTION_ATTRIBUTES | UNSAFE_METHOD_ATTRIBUTES | UNSAFE_GENERATOR_ATTRIBUTES
           | UNSAFE_COROUTINE_ATTRIBUTES | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES | {"mro", "format_map"})

SAMPLE_SUBSCRIPTION = {
    "id": "sub_sample", "customer": "cus_sample", "status": "active", "mrr_minor": 15000, "currency": "usd",
    "renewal_date": "2026-12-01T00:00:00Z", "cancel_at": None, "cancel_at_period_end": False, "trial_end": None,
}
SAMPLE_CONTACT = {
    "contact_id": "acme-1", "contact_type": "account", "name": "Acme", "email": "billing@acme.example",
    "stripe_customer_ids": ["cus_sample"], "stage": "customer",
    "mrr": {"amount_minor": 15000, "currency": "usd"}, "renewal_date": "2026-12-01T00:00:00Z",
    "subscriptions": [SAMPLE_SUBSCRIPTION],
}


def sample_context(automation: str, trigger: str) -> dict[str, Any]:
    """What a delivery renders with (`actions.base.ActionContext.build`), with sample values."""
    return {"contact": SAMPLE_CONTACT, "automation": automation, "trigger": trigger,
            "subscription": SAMPLE_SUBSCRIPTION if trigger in SUBSCRIPTION_TRIGGERS else None,
            "occurrence": f"{trigger}:sample", "arm": "treated", "fired_at": "2026-11-01T09:00:00Z"}


def _strings(tree: Any, loc: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(tree, str):
        yield loc, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from _strings(value, (*loc, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _strings(value, (*loc, index))


def unsafe_access(text: str) -> str | None:
    """The first attribute the sandbox would refuse (`x.__class__`, `x|attr('mro')`), or None."""
    try:
        tree = _ENV.parse(text)
    except TemplateError:
        return None
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem):
            name = node.arg.value if isinstance(node.arg, nodes.Const) else None
        else:
            first = node.args[0] if node.name == "attr" and node.args else None
            name = first.value if isinstance(first, nodes.Const) else None
        if isinstance(name, str) and (name.startswith("_") or name in _UNSAFE):
            return name
    return None


def template_problem(text: str, context: dict[str, Any]) -> str | None:
    """Why `text` would fail at send time with `context`, as one sentence, or None."""
    unsafe = unsafe_access(text)
    if unsafe is not None:
        return f"template reads '{unsafe}', which the sandbox forbids (a template may read the contact, " \
               "subscription, automation and trigger fields only)"
    try:
        render_limited(_ENV.from_string(text), context)
    except TemplateError as exc:
        where = f" (template line {exc.lineno})" if getattr(exc, "lineno", None) and exc.lineno > 1 else ""
        return f"template error{where}: {exc.message or type(exc).__name__}"
    return None


def check_action_templates(params: Any, line: int, automation: str, trigger: str | None) -> list[tuple[int, str]]:
    """(line, message) per templated parameter of one action that would not render."""
    if trigger is None:
        return []
    context = sample_context(automation, trigger)
    found = []
    for loc, text in _strings(plain(params)):
        if not is_template(text):
            continue
        problem = template_problem(text, context)
        if problem and context["subscription"] is None and "'None' has no attribute" in problem:
            problem += f" (on: {trigger} has no subscription; guard with {{% if subscription %}})"
        if problem:
            name = ".".join(str(part) for part in loc)
            found.append((line_at(params, loc, line), f"parameter '{name}': {problem}"))
    return found
