"""Machine-readable benchmark figures, printed beside each benchmark's human output.

    figure("sync.backfill_rate", 12345.6, "objects/s", goal="", label="full backfill")

prints one line that `python -m bench` collects into bench/results/latest.md:

    FIGURE sync.backfill_rate=12345.6 unit=objects/s goal="" label="full backfill"

`name=value` comes first; the other fields are `key=value` pairs, quoted as a shell would
(`shlex`), so labels and goals may hold spaces. `met=yes|no` is added when the benchmark can
judge its own goal.
"""

from __future__ import annotations

import shlex

PREFIX = "FIGURE "


def figure(name: str, value: float, unit: str, *, goal: str = "", label: str = "", met: bool | None = None) -> None:
    fields = {"unit": unit, "goal": goal, "label": label or name}
    if met is not None:
        fields["met"] = "yes" if met else "no"
    rendered = f"{value:.4g}" if isinstance(value, float) and abs(value) < 100 else f"{value:.0f}"
    print(PREFIX + f"{name}={rendered} " + " ".join(f"{k}={shlex.quote(v)}" for k, v in fields.items()), flush=True)


def parse(line: str) -> dict[str, str] | None:
    """The fields of one FIGURE line (name, value, unit, goal, label, met), else None."""
    if not line.startswith(PREFIX):
        return None
    tokens = shlex.split(line[len(PREFIX):])
    name, _, value = tokens[0].partition("=")
    fields = dict(token.partition("=")[::2] for token in tokens[1:])
    return {"name": name, "value": value, **fields}
