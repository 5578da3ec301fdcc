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

from collections.abc import Callable
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from actions.base import PermanentFailure
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


def _build_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["money"] = money
    return env


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
            return template.render(frozen)
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
    except Exception as exc:  # a caller-supplied renderer may raise anything
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
