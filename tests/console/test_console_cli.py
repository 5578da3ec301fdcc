"""`deliveries list|retry|cancel`, `explain` and `console-hash-password` as real subprocesses."""

from __future__ import annotations

import json

from tests.console.conftest import NOW


def _env(world):
    return {"DATABASE_URL": world.store.engine.url.render_as_string(hide_password=False),
            "RULES_DIR": str(world.rules_dir), "USER": "olivia"}


def test_deliveries_list_retry_cancel_and_audit(world, cli):
    env = _env(world)
    listed = json.loads(cli("deliveries", "list", "--state", "dead", "--json", env=env).stdout)
    assert [d["id"] for d in listed] == [world.dead_id] and listed[0]["last_error"] == "HTTP 500 from the receiver"
    done = cli("deliveries", "retry", str(world.dead_id), env=env)
    assert done.returncode == 0 and f"Re-driven: 1 ({world.dead_id})" in done.stdout
    again = cli("deliveries", "retry", "--dead", env=env)
    assert again.returncode == 0 and "Re-driven: 0" in again.stdout
    canceled = cli("deliveries", "cancel", str(world.pending_id), env=env)
    assert canceled.returncode == 0 and f"Canceled: 1 ({world.pending_id})" in canceled.stdout
    states = {d["id"]: d["state"] for d in json.loads(cli("deliveries", "list", "--json", env=env).stdout)}
    assert states == {world.dead_id: "pending", world.pending_id: "canceled"}
    bad = cli("deliveries", "list", "--state", "lost", env=env)
    assert bad.returncode == 2 and "--state 'lost'" in bad.stderr and "Traceback" not in bad.stderr
    from worker.console.deliveries import audit_entries

    assert [(e["actor"], e["action"]) for e in audit_entries(world.store)] == [
        ("cli:olivia", "delivery.cancel"), ("cli:olivia", "delivery.retry")]


def test_explain_says_why_an_automation_fires_or_not(world, cli):
    env = _env(world)
    shown = cli("explain", world.contact, "--automation", "renewal-heads-up", "--now", NOW.isoformat(), env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("renewal-heads-up (on renewal_due):")
    data = json.loads(cli("explain", world.contact, "--json", "--now", NOW.isoformat(), env=env).stdout)
    assert data[0]["automation"] == "renewal-heads-up" and data[0]["firings"]  # the fixture's firing
    for occurrence in data[0]["occurrences"]:
        assert {c["name"] for c in occurrence["checks"]} >= {"on", "within", "if stage"}
    unknown = cli("explain", "nobody", env=env)
    assert unknown.returncode != 0 and "There is no contact 'nobody'" in unknown.stderr


def test_hash_password_reads_stdin_and_the_hash_verifies(cli, tmp_path):
    import subprocess
    import sys

    from tests.conftest import clean_env
    from worker.console.auth import Access, parse_users

    result = subprocess.run([sys.executable, "-m", "worker.cli.main", "console-hash-password", "ann"],
                            input="s3cret-passw0rd\n", capture_output=True, text=True, env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    users = parse_users(result.stdout.strip())
    assert Access(users, {}, None).check_password("ann", "s3cret-passw0rd")
    assert not Access(users, {}, None).check_password("ann", "wrong")
    assert "s3cret" not in result.stdout
