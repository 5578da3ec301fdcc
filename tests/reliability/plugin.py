"""The reliability suite's plumbing: a pytest plugin loaded by `tests/conftest.py`.

1. **The index.** `SCENARIOS` maps each failure mode of issue 8 to the tests that exercise it
   end to end, wherever they live; those tests get the `reliability` marker at collection, so
   `pytest -m reliability` runs exactly the suite (docs/reliability.md is the same table).
2. **The log tee.** At session start `LIFECYCLE_LOG_TEE` names a fresh file and logging is
   configured as every process entry point does (its stream discarded: pytest reports a failing
   test's log records itself): every rendered log line of this process and
   of every subprocess started with the inherited environment (the `cli` fixture, `run`,
   `scheduler`, `web`, `dramatiq worker.tasks` …) is appended there as `PID<TAB>line`.
   `record_output` adds what a subprocess printed (the `cli` fixture's stdout and stderr).
3. **Known secrets.** `note_env` (called by `clean_env`) and `note_secrets` collect the secret
   values tests hand to the product; `scan` looks for them and for unmasked key shapes.
   `test_secret_scan.py` runs last and asserts zero hits; `pytest_sessionfinish` scans once more
   (lines logged by fixture teardown after that test) and fails the session on a hit.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from worker.logs import MASK, TEE_ENV, configure_logging

SCENARIOS: dict[str, tuple[str, ...]] = {
    "Stripe faults (429, 5xx, dropped connections) at 10%: final state identical to a fault-free run": (
        "tests/sync/test_sandbox_sync.py::test_ten_percent_injected_faults_end_in_the_same_state_as_a_fault_free_run",
        "tests/sync/test_transport.py::test_the_request_rate_never_exceeds_the_ceiling_even_under_retries",
        "tests/sync/test_transport.py::test_dropped_connections_and_500s_are_retried_over_real_http",
    ),
    "a sync killed half way resumes and ends like an uninterrupted one": (
        "tests/sync/test_sandbox_sync.py::test_a_sync_killed_half_way_resumes_and_ends_like_an_uninterrupted_one",
    ),
    "kill -9 of a worker process during delivery": (
        "tests/delivery/test_workers_redis.py::test_a_worker_killed_mid_run_loses_nothing_and_duplicates_carry_one_key",
    ),
    "a freshly started worker (its threads take a backlog at once) processes all of it, every start": (
        "tests/delivery/test_worker_starts.py::test_every_fresh_worker_processes_the_backlog_waiting_for_it",
    ),
    "Redis losing its keys mid-run": (
        "tests/delivery/test_workers_redis.py::test_redis_losing_every_key_mid_run_is_recovered_by_the_reconciler",
        "tests/delivery/test_outbox.py::test_the_reconciler_resends_only_lost_messages",
    ),
    "two schedulers (and two evaluators, several migrating processes) at once": (
        "tests/foundation/test_processes.py::test_two_schedulers_enqueue_each_tick_once_and_the_standby_takes_over",
        "tests/automations/test_evaluate_service.py::test_two_evaluators_at_once_fire_each_occurrence_once",
        "tests/test_store_schema.py::test_several_processes_migrating_at_once_all_succeed",
    ),
    "the malformed rule-file corpus": (
        "tests/rules/test_malformed_corpus.py::test_malformed_rule_set_reports_exactly_these_problems",
        "tests/rules/test_robustness.py::test_any_shape_yields_a_ruleset_or_rule_file_problems",
    ),
    "malformed Stripe objects quarantined while the rest syncs": (
        "tests/sync/test_sandbox_sync.py::test_a_malformed_object_is_quarantined_and_the_rest_is_synced",
        "tests/sync/test_refetch_and_cli.py::test_quarantined_objects_are_stored_without_secrets",
    ),
    "webhook receiver attacks: each answered 400, nothing stored or enqueued": (
        "tests/sync/test_webhook.py::",
        "tests/foundation/test_run_webhook.py::test_run_receives_a_signed_webhook_and_refetches_the_object",
        "tests/reliability/test_webhook_attacks.py::",
    ),
    "issue 15, item 2: a contact without an exchange rate is skipped, every other one evaluated": (
        "tests/reliability/test_missing_fx.py::",
        "tests/automations/test_bad_contact.py::test_a_contact_in_an_unconfigured_currency_does_not_stop_the_others",
    ),
    "issue 15, item 3: a typo in a live rule file stops no job (last good rules, FILE:LINE logged)": (
        "tests/reliability/test_live_rule_typo.py::",
    ),
    "issue 15, item 4: Stripe objects validated at the boundary on PostgreSQL, the rest synced": (
        "tests/reliability/test_stripe_boundary.py::",
    ),
    "issue 15, item 5: untrusted input bounded (redaction, event ids, query parameters, event loop)": (
        "tests/reliability/test_untrusted_bounds.py::",
    ),
    "issue 15, item 6: rule files bounded (size, alias expansion, depth) as FILE:LINE": (
        "tests/reliability/test_rule_file_bounds.py::",
    ),
    "issue 15, item 8: CSV import — unterminated quote, NUL bytes, streamed batches": (
        "tests/reliability/test_csv_import_hardening.py::",
    ),
    "issue 15, items 9-11: configuration errors never leak a password; PORT honoured": (
        "tests/reliability/test_config_errors.py::",
    ),
    "issue 15: fuzzing the webhook receiver, rule loader, CSV importer and Stripe object validator": (
        "tests/reliability/test_fuzz.py::",
    ),
    "templates from rule files: unsafe or unrenderable refused by check, rendering bounded": (
        "tests/reliability/test_template_limits.py::",
    ),
    "no secret in any log line or output the suite produced": (
        "tests/reliability/test_secret_scan.py::",
    ),
}
RUNS_LAST = "tests/reliability/test_secret_scan.py::test_no_line_the_suite_produced_holds_a_secret"

_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|WRITE_KEY|PRIVATE_KEY")
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^:/@\s\"']*:(?P<pw>[^@\s\"']+)@", re.IGNORECASE)
_KEY_SHAPE = re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{4,}|\bwhsec_[A-Za-z0-9+/=]{2,}")
MIN_SECRET_LENGTH = 6
# The tests' stand-ins for the outside world: they receive secrets legitimately (a webhook URL's
# token, the Stripe key, SMTP credentials) and may log them; they are not the product.
OUTSIDE_WORLD_LOGGERS = ("werkzeug", "pytest_httpserver", "mail.log", "aiosmtpd", "stripe_sandbox", "localstripe")
_LOGGER = re.compile(r'"logger": "(?P<name>[^"]*)"')


@dataclass
class Tee:
    """The session's log tee file and the secrets the tests handed to the product."""

    path: Path | None = None
    secrets: set[str] = field(default_factory=set)


TEE = Tee()


def note_secrets(values: Iterable[str]) -> None:
    """Register secret values the product was given, to be searched for in every line."""
    TEE.secrets.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)


def note_env(env: Mapping[str, str]) -> None:
    """Register the secrets in a product environment: secret-named values, URL passwords."""
    for name, value in env.items():
        if _SECRET_NAME.search(name.upper()):
            note_secrets([value])
        note_secrets(m.group("pw") for m in _URL_PASSWORD.finditer(value or "") if m.group("pw") != MASK)


def module_secrets() -> set[str]:
    """Secret-named string constants of the loaded test modules (`HOOK_SECRET = "…"`, `TOKEN`)
    and every constant shaped like a Stripe key or webhook secret."""
    found = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("tests.") or name.startswith("tests.reliability"):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH and (
                    _SECRET_NAME.search(attr) or _KEY_SHAPE.fullmatch(value)):
                found.add(value)
    return found


def known_secrets() -> set[str]:
    return TEE.secrets | module_secrets()


def record_output(label: str, *texts: str | bytes | None) -> None:
    """Append what a subprocess printed to the tee, one line each, tagged with `label`."""
    if TEE.path is None:
        return
    with open(TEE.path, "a", encoding="utf-8") as tee:
        for text in texts:
            if isinstance(text, bytes):
                text = text.decode(errors="replace")
            tee.writelines(f"{label}\t{line}\n" for line in (text or "").splitlines())


def scan(lines: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """The lines holding a known secret value, an unmasked key shape or a URL password (lines
    logged by the tests' stand-ins for the outside world excepted)."""
    known = sorted(set(secrets), key=len, reverse=True)
    hits = []
    for line in lines:
        logger = _LOGGER.search(line)
        if logger and logger.group("name").startswith(OUTSIDE_WORLD_LOGGERS):
            continue
        if (any(s in line for s in known) or _KEY_SHAPE.search(line)
                or any(m.group("pw") != MASK for m in _URL_PASSWORD.finditer(line))):
            hits.append(line)
    return hits


def masked(line: str, secrets: Iterable[str]) -> str:
    """`line` with every secret the scan would find replaced by the mask (safe to print)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        line = line.replace(secret, MASK)
    return _URL_PASSWORD.sub(lambda m: m.group(0).replace(m.group("pw"), MASK), _KEY_SHAPE.sub(MASK, line))


def tee_lines() -> list[str]:
    if TEE.path is None or not TEE.path.exists():
        return []
    return TEE.path.read_text(encoding="utf-8", errors="replace").splitlines()


# --- hooks -------------------------------------------------------------------------------

class _Discard:
    """The session's own log stream: in-process lines go to the tee (and to pytest's report of a
    failing test, which captures log records itself), not to a terminal pytest is drawing on."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    folder = Path(tempfile.mkdtemp(prefix="lc-log-tee-"))
    TEE.path = folder / "tee.log"
    TEE.path.touch()
    os.environ[TEE_ENV] = str(TEE.path)
    # as every process entry point does; the tee comes with it
    configure_logging("json", "info", stream=_Discard())


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    prefixes = tuple(p for tests in SCENARIOS.values() for p in tests)
    for item in items:
        if item.nodeid.startswith(prefixes):
            item.add_marker(pytest.mark.reliability)
    last = [item for item in items if item.nodeid == RUNS_LAST]
    items[:] = [item for item in items if item.nodeid != RUNS_LAST] + last


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    secrets = known_secrets()
    hits = scan(tee_lines(), secrets)
    if hits:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            example = masked(hits[0], secrets)[:300]
            reporter.write_line(f"SECRET SCAN: {len(hits)} log line(s) hold a secret (masked here), e.g. {example!r}",
                                red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if TEE.path is not None and not os.environ.get("LIFECYCLE_KEEP_LOG_TEE"):
        shutil.rmtree(TEE.path.parent, ignore_errors=True)
