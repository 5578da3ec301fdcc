"""Whatever shape ops type, the loader answers with problems, never with a crash."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from worker.errors import RuleFileError
from worker.rules.loader import load_rules
from worker.rules.model import RuleSet

KEYS = ["name", "on", "within", "from", "to", "if", "do", "goal", "holdout", "stage", "mrr", "plan",
        "metadata.segment", "metadata", "kind", "grace", "log", "slack", "webhook", "segment", "traits",
        "message", "level", "url", "text", "automations", "destinations", "stages", "precedence",
        "contacts", "mrr", "status", "fx_rates", "currency", "type", "x"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 200),
    st.sampled_from(["canceled", "renewal_due", "stage_changed", "30 days", "0 days", ">= 100", "10%",
                     "customer", "trial", "{{ contact.name }}", "{{ x", "${UNSET}", "${SET}", "https://x.example",
                     "log", "renewal", "active", "", "%", "=="]),
)
TREES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)), max_leaves=25)


def _dump(data) -> str:
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, stream)
    return stream.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(automations=TREES, top=st.dictionaries(st.sampled_from(KEYS), TREES, max_size=3))
def test_any_shape_yields_a_ruleset_or_rule_file_problems(tmp_path: Path, automations, top):
    (tmp_path / "a.yaml").write_text(_dump({"automations": automations}))
    (tmp_path / "b.yaml").write_text(_dump(top))
    try:
        result = load_rules(tmp_path, {"SET": "value-1234"})
    except RuleFileError as exc:
        assert exc.problems
        assert all(p.split(":")[0] in ("a.yaml", "b.yaml") and p.split(":")[1].isdigit() for p in exc.problems)
        assert not any("value-1234" in p for p in exc.problems)
    else:
        assert isinstance(result, RuleSet)
