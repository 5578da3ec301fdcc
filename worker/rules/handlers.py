"""Action and destination entries checked against the handler registry (wiring: rules → actions).

An entry names one handler (`- slack: {...}`); its parameters are validated by that handler's
own `Params` model (`actions.registry.get_handler(name).Params.model_validate`), so a rule
file is refused at load time for exactly what the handler would refuse at send time.
Pydantic's errors are mapped back to the parameter's line. Handlers hide inputs from their
errors (secrets), and every message is scrubbed of `${ENV}` values by `Problems` as well.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap

from actions.registry import HANDLERS, get_handler
from worker.rules.envsubst import Unresolved
from worker.rules.problems import Problems, line_at, listing, suggestion, type_name


def plain(value: Any) -> Any:
    """A ruamel tree as plain dicts/lists (what the handlers' models validate)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def value_at(tree: Any, loc: tuple[Any, ...]) -> Any:
    """The value under `tree` at a pydantic error location, or None."""
    for step in loc:
        if isinstance(tree, dict) and step in tree:
            tree = tree[step]
        elif isinstance(tree, list) and isinstance(step, int) and 0 <= step < len(tree):
            tree = tree[step]
        else:
            return None
    return tree


def unknown_handler(name: str) -> str:
    known = sorted(HANDLERS)
    hint = suggestion(name, known) or f"; actions are {listing(known) or '(none registered)'}"
    return f"unknown action '{name}'{hint}"


def validate_params(file: str, line: int, handler_name: str, params: Any, where: str,
                    problems: Problems) -> Any | None:
    """The handler's Params instance for `params`, or None after recording every error."""
    handler = get_handler(handler_name)
    if handler is None:
        problems.add(file, line, f"{where}: {unknown_handler(handler_name)}")
        return None
    if params is None:
        params = CommentedMap()
    if not isinstance(params, dict):
        problems.add(file, line, f"{where}: parameters of '{handler_name}' must be a mapping, "
                     f"e.g. {handler_name}: {{...}}; got {type_name(params)}")
        return None
    try:
        return handler.Params.model_validate(plain(params))
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            loc = tuple(error["loc"])
            if isinstance(value_at(params, loc), Unresolved):
                continue  # its unset ${NAME} is already reported
            at = line_at(params, loc, line)
            problems.add(file, at, f"{where}: {param_message(handler.Params, loc, error)}")
        return None


def param_message(model: type[BaseModel], loc: tuple[Any, ...], error: dict[str, Any]) -> str:
    """One sentence for one pydantic error on a handler's params."""
    name = ".".join(str(part) for part in loc) or "parameters"
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        fields = _fields_at(model, loc[:-1])
        hint = suggestion(str(loc[-1]), fields) or (f"; parameters are {listing(fields)}" if fields else "")
        return f"unknown parameter '{name}'{hint}"
    if kind == "missing":
        return f"missing required parameter '{name}'"
    message = str(error.get("msg", "is invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return f"parameter '{name}': {message[:1].lower()}{message[1:]}"


def _fields_at(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """Field names of the (nested) model at `loc`, best effort, for suggestions."""
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    fields = getattr(model, "model_fields", {})
    return [f.alias or n for n, f in fields.items()]
