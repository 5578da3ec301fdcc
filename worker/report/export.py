"""`report --export DIR`: the experiment data as CSV for a second opinion (adapter).

Two files, UTF-8, header row, times ISO 8601 UTC, money in minor units of the reporting currency:

- `assignments.csv` — one row per (automation, contact) whose first firing is in the report
  period: `automation, contact_id, arm, first_fired_at, first_firing_id`.
- `outcomes.csv` — one row per measured firing in the period: `automation, contact_id,
  firing_id, arm, fired_at, window_end, succeeded, mrr_at_fire_minor, mrr_at_end_minor,
  currency, counted` (`counted` = 1 for the contact's first firing, the one the contact-level
  analysis uses; a notebook recomputes every figure of the report from the counted rows).
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from worker.core.snapshot import iso
from worker.errors import ConfigError
from worker.report.experiments import firing_rows, first_rows
from worker.store.db import Store

ASSIGNMENTS = ("automation", "contact_id", "arm", "first_fired_at", "first_firing_id")
OUTCOMES = ("automation", "contact_id", "firing_id", "arm", "fired_at", "window_end", "succeeded",
            "mrr_at_fire_minor", "mrr_at_end_minor", "currency", "counted")


def export_csv(store: Store | Session, folder: Path, *, currency: str, since: datetime | None = None) -> list[Path]:
    """Write assignments.csv and outcomes.csv into `folder` (created); return their paths."""
    if isinstance(store, Session):
        rows = firing_rows(store)
    else:
        with store.session() as session:
            rows = firing_rows(session)
    firsts = first_rows(rows)
    first_ids = {row.id for row in firsts.values()}
    assignments = [(r.automation, r.contact_id, r.arm, iso(r.fired_at), r.id)
                   for r in sorted(firsts.values(), key=lambda r: (r.automation, r.fired_at, r.id))
                   if since is None or r.fired_at >= since]
    outcomes = [(r.automation, r.contact_id, r.id, r.arm, iso(r.fired_at), iso(r.window_end), int(r.succeeded),
                 r.mrr_at_fire, r.mrr_at_end, currency, int(r.id in first_ids and (since is None or r.fired_at >= since)))
                for r in rows if r.succeeded is not None and (since is None or r.fired_at >= since)]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return [_write(folder / "assignments.csv", ASSIGNMENTS, assignments),
                _write(folder / "outcomes.csv", OUTCOMES, outcomes)]
    except OSError as exc:
        raise ConfigError(f"Cannot write the export to {folder} ({exc.strerror}).",
                          fix="Pick a writable folder for --export.") from None


def _write(path: Path, header: tuple[str, ...], rows: list[tuple]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
