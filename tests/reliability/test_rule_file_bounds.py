"""Item 6 of issue 15: rule files are bounded — size, alias expansion, nesting depth — each
reported as FILE:LINE by `check` (the release phase), never a hang or a RecursionError."""

from __future__ import annotations

import pytest

from worker.errors import RuleFileError
from worker.rules.loader import load_rules
from worker.rules.yamlsource import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def _problems(tmp_path, name: str, text: str) -> list[str]:
    (tmp_path / name).write_text(text)
    with pytest.raises(RuleFileError) as raised:
        load_rules(tmp_path, {})
    return raised.value.problems


@pytest.mark.timeout(60)
def test_an_alias_bomb_is_one_problem_at_the_line_where_it_explodes(tmp_path):
    text = _bomb()
    assert len(text) <= 500  # like the 430-byte bomb: 9**9 values once expanded
    problems = _problems(tmp_path, "bomb.yaml", text)
    assert len(problems) == 1 and f"more than {MAX_NODES:,} values" in problems[0]
    line = int(problems[0].split(":")[1])
    assert problems[0].startswith("bomb.yaml:") and 2 <= line <= 10


@pytest.mark.timeout(60)
def test_twenty_thousand_deep_nesting_is_a_problem_at_its_line(tmp_path):
    for text in ("stages: " + "[" * 20_000 + "]" * 20_000 + "\n",
                 "stages:\n" + "".join(" " * i + f"k{i}:\n" for i in range(300))):
        problems = _problems(tmp_path, "deep.yaml", text)
        assert len(problems) == 1 and f"deeper than {MAX_DEPTH}" in problems[0], problems
        assert problems[0].startswith("deep.yaml:")


@pytest.mark.timeout(60)
def test_a_file_larger_than_the_bound_is_refused_unread(tmp_path):
    (tmp_path / "huge.yaml").write_bytes(b"# " + b"x" * (MAX_FILE_BYTES + 10) + b"\n")
    with pytest.raises(RuleFileError) as raised:
        load_rules(tmp_path, {})
    assert raised.value.problems == [raised.value.problems[0]]
    assert raised.value.problems[0].startswith("huge.yaml:1: the file is larger than")


def test_a_few_anchors_and_aliases_still_work(tmp_path):
    (tmp_path / "stripe.yaml").write_text(
        "contacts: {type: account, id_metadata_key: account_id}\n"
        "mrr: &m {preset: stripe, currency: usd}\n")
    assert load_rules(tmp_path, {}).source.mrr.currency == "usd"


def test_a_list_or_mapping_as_a_key_is_a_problem_not_a_crash(tmp_path):
    for text in ("? - :\n", "a: 1\n? {x: 1}\n: 2\n", "? [a, b]\n: c\n"):
        (tmp_path / "odd.yaml").write_text(text)
        with pytest.raises(RuleFileError) as raised:
            load_rules(tmp_path, {})
        assert all(p.startswith("odd.yaml:") for p in raised.value.problems), raised.value.problems
