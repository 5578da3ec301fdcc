"""Action templates: sandboxed Jinja2 over `contact`, `subscription`, `automation`, `trigger`.

Rule files hold templates in action params (`text: "{{ contact.name }} renews …"`). The rule
loader checks their syntax with `check_template` when rules load; the delivery layer builds a
renderer per delivery with `make_renderer(context)` and hands it to handlers as
`ActionContext.render`. Rendering is strict (an unknown variable is an error, never an empty
string) and sandboxed (no attribute access to Python internals). Output is plain text: no HTML
autoescaping, since most targets (Slack, JSON, email text) are not HTML.

A rendering error at send time is a `PermanentFailure` (retrying cannot fix a template);
`render_param` names the param whose template failed.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from actions.failures import PermanentFailure
from worker.core.money import major_units  # the one currency table (0-, 2- and 3-decimal currencies)
from worker.logs import redact

class TemplateRenderError(PermanentFailure):
    """A template failed at send time (unknown variable, bad filter argument …)."""


def money(value: Any, currency: str | None = None) -> str:
    """Jinja filter: `{{ contact.mrr | money }}` → `150.00 USD`; also takes minor-unit ints
    (`money(1234, "bhd")` → `1.234 BHD`; zero-decimal currencies print whole units)."""
    if isinstance(value, dict):
        value, currency = value.get("amount_minor", 0), value.get("currency", currency)
    currency = (currency or "usd").lower()
    return f"{major_units(int(value or 0), currency)} {currency.upper()}"


#: Rendering limits (untrusted rule files, issue 15 item 7): output size, wall time, loop
#: iterations and the size of an integer argument or of a repeated string/list.
MAX_OUTPUT_CHARS = 256 * 1024
MAX_RENDER_S = 2.0
MAX_ITERATIONS = 200_000
MAX_INT_ARG = 1_000_000
_budget = threading.local()


class TemplateLimitError(SecurityError):
    """A template went past a rendering limit (time, output size, loop iterations)."""


def _spend(iterations: int = 0) -> None:
    """Charge the current render's budget; raise when its time or iterations are spent."""
    deadline = getattr(_budget, "deadline", None)
    if deadline is None:
        return
    if iterations:
        _budget.left -= iterations
        if _budget.left < 0:
            raise TemplateLimitError(f"the template loops over more than {MAX_ITERATIONS:,} items")
    if time.monotonic() > deadline:
        raise TemplateLimitError(f"the template took longer than {MAX_RENDER_S:g} s to render")


def _limited_range(*args: int) -> Iterator[int]:
    for arg in args:
        if abs(arg) > MAX_INT_ARG:
            raise TemplateLimitError(f"range() argument {arg} is larger than {MAX_INT_ARG:,}")
    for value in range(*args):
        _spend(1)
        yield value


class LimitedEnvironment(SandboxedEnvironment):
    """The sandbox plus limits: every call, attribute read and range step charges a time and
    iteration budget; `*` and `**` cannot build huge strings, lists or numbers."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _spend()
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise TemplateLimitError(f"exponent {right} is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT_CHARS:
                    raise TemplateLimitError(f"repeating a value {times} times makes more than "
                                             f"{MAX_OUTPUT_CHARS:,} items")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check_args(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _spend()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _spend()
        return super().getitem(obj, argument)


def _check_args(args: tuple, kwargs: dict) -> None:
    _spend()
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_INT_ARG:
            raise TemplateLimitError(f"argument {arg} is larger than {MAX_INT_ARG:,}")


def _limited_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose integer arguments are bounded (`'x'|center(10**9)` cannot allocate GBs);
    `functools.wraps` keeps Jinja's pass_context/pass_environment marks."""

    @functools.wraps(func)
    def limited(*args: Any, **kwargs: Any) -> Any:
        _check_args(args, kwargs)
        return func(*args, **kwargs)

    return limited


def _build_environment() -> SandboxedEnvironment:
    env = LimitedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["money"] = money
    env.filters = {name: _limited_filter(f) for name, f in env.filters.items()}
    env.globals["range"] = _limited_range
    return env


def render_limited(template: Any, context: dict[str, Any]) -> str:
    """Render within the limits: output streamed and cut at MAX_OUTPUT_CHARS, time and loop
    iterations budgeted (a 10 MB message or nested range(100000) loops fail in about
    MAX_RENDER_S, as a TemplateLimitError, instead of hanging the caller)."""
    _budget.deadline, _budget.left = time.monotonic() + MAX_RENDER_S, MAX_ITERATIONS
    try:
        parts, size = [], 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateLimitError(f"the template renders more than {MAX_OUTPUT_CHARS:,} characters")
            _spend()
            parts.append(chunk)
        return "".join(parts)
    finally:
        _budget.deadline = None


_ENV = _build_environment()


def is_template(text: str) -> bool:
    """True when `text` holds Jinja2 markup (and so can only be checked for syntax at load)."""
    return "{{" in text or "{%" in text or "{#" in text


def check_template(text: str) -> str | None:
    """The syntax error of `text` as one sentence (with its line in the template), or None."""
    try:
        _ENV.parse(text)
    except TemplateSyntaxError as exc:
        where = f" (template line {exc.lineno})" if exc.lineno and exc.lineno > 1 else ""
        return f"template syntax error{where}: {exc.message}"
    return None


def make_renderer(context: dict[str, Any]) -> Callable[[str], str]:
    """A function rendering a template string against `context` (contact, subscription, …).

    Compiled templates are cached per renderer, so a handler rendering the same param twice
    compiles it once. Raises `TemplateRenderError` (a `PermanentFailure`) on any error.
    """
    frozen = dict(context)
    cache: dict[str, Any] = {}

    def render(text: str) -> str:
        if not is_template(text):
            return text
        try:
            template = cache.get(text) or cache.setdefault(text, _ENV.from_string(text))
            return render_limited(template, frozen)
        except TemplateError as exc:
            raise TemplateRenderError(redact(_describe(exc))) from None

    return render


def _describe(exc: TemplateError) -> str:
    kind = "syntax error" if isinstance(exc, TemplateSyntaxError) else "error"
    return f"template {kind}: {exc.message or type(exc).__name__}"


def render_param(render: Callable[[str], str], name: str, text: str) -> str:
    """Render the template of param `name`; a failure names the param and is permanent."""
    try:
        return render(text)
    except PermanentFailure as exc:
        raise PermanentFailure(f"could not render `{name}`: {exc}") from None
    except Exception as exc:  # noqa: BLE001  (a caller-supplied renderer may raise anything)
        raise PermanentFailure(f"could not render `{name}`: {redact(str(exc)) or type(exc).__name__}") from None


def render_tree(render: Callable[[str], str], name: str, value: Any) -> Any:
    """Render every string inside a JSON-like value (Slack blocks, extra properties)."""
    if isinstance(value, str):
        return render_param(render, name, value)
    if isinstance(value, list):
        return [render_tree(render, f"{name}[{i}]", item) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: render_tree(render, f"{name}.{key}", item) for key, item in value.items()}
    return value
