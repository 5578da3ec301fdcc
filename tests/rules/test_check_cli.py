"""`stripe-lifecycle check`: exit 0 + one-line summary (stdout), exit 1 + `FILE:LINE: message`
lines (stderr), exit 2 for a missing folder; never a traceback, never a secret."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from worker.cli.main import app

from .conftest import SHIPPED


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["check", *args], env=env)


def test_valid_rules_print_a_one_line_summary_and_exit_0(rules_dir):
    folder = rules_dir({
        "automations.yaml": "automations:\n  - name: a\n    on: canceled\n    do: [log]\n"
                            "  - name: b\n    on: reactivated\n    do: [log]\n",
        "destinations.yaml": "destinations:\n  - log: {}\n"})
    result = invoke("--rules", str(folder))
    assert result.exit_code == 0, result.output
    assert result.stdout == "rules OK: 4 files, 3 stages, 2 automations, 1 destination\n"
    assert result.stderr == ""


def test_shipped_rules_pass_check():
    result = invoke("--rules", str(SHIPPED))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "rules OK: 4 files, 3 stages, 2 automations, 0 destinations\n"


def test_problems_go_to_stderr_one_per_line_with_exit_1(rules_dir):
    folder = rules_dir({"automations.yaml": "automations:\n  - name: a\n    on: renewal_dew\n    do: [log]\n"
                                            "  - name: b\n    on: canceled\n    holdout: 200%\n    do: [log]\n"})
    result = invoke("--rules", str(folder))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "automations.yaml:3: automation 'a': on: unknown trigger 'renewal_dew'; did you mean 'renewal_due'?",
        "automations.yaml:7: automation 'b': holdout: '200%' is outside 0% to 100%",
        "Error: 2 problems in the rule files.",
    ]


def test_missing_folder_exits_2_with_a_plain_sentence(tmp_path):
    result = invoke("--rules", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and "RULES_DIR" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_rules_dir_setting_is_the_default_folder(rules_dir):
    folder = rules_dir({"stages.yaml": "stages:\n  only: {status: [active]}\n"})
    result = invoke(env={"RULES_DIR": str(folder)})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("rules OK: 2 files, 1 stage, ")


def test_secrets_from_the_environment_never_reach_the_output(rules_dir):
    folder = rules_dir({"automations.yaml": """\
        automations:
          - name: leak
            on: renewal_due
            within: "${WINDOW_SECRET}"
            do:
              - webhook: {url: "${HOOK_URL}", secret: "${HOOK_SECRET}"}
              - log: {message: "{{ x", level: "${LEVEL_SECRET}"}
        """})
    env = {"WINDOW_SECRET": "s3cr3t-window", "HOOK_URL": "ftp://hunter2.example/token-abc123",
           "HOOK_SECRET": "whsec_abcdef", "LEVEL_SECRET": "loud-secret-level"}
    result = invoke("--rules", str(folder), env=env)
    assert result.exit_code == 1
    output = result.stdout + result.stderr
    for value in env.values():
        assert value not in output
    assert "automations.yaml:4: automation 'leak': within: '${WINDOW_SECRET}' is not a duration" in output
    assert len(result.stderr.splitlines()) == 5  # within, url, message, level + the count


def test_console_script_reads_rules_dir_and_dotenv_in_a_real_process(cli, tmp_path):
    shutil.copytree(SHIPPED, tmp_path / "rules")
    automations = tmp_path / "rules" / "automations.yaml"
    automations.write_text(automations.read_text().replace("      # - webhook:", "      - webhook:"))
    missing = cli("check")
    assert missing.returncode == 1
    assert missing.stderr.splitlines()[0].startswith(
        "automations.yaml:21: environment variable HOOK_SECRET is not set")
    (tmp_path / ".env").write_text("HOOK_SECRET=from-dotenv-1234\n")
    found = cli("check")
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "rules OK: 4 files, 3 stages, 2 automations, 0 destinations"
