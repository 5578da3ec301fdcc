"""`web` refuses to start, with a sentence, when the console cannot listen safely or at all."""

from __future__ import annotations

import socket

from tests.sync.conftest import free_port


def test_web_exits_with_a_sentence_when_the_console_port_is_taken(cli, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("web", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "WEB_PORT": str(free_port()),
                                 "CONSOLE_PORT": str(port)}, timeout=60)
    assert result.returncode == 2
    assert f"The console listener could not start on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_web_refuses_a_public_console_without_users(cli, tmp_path):
    result = cli("web", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "WEB_PORT": str(free_port()),
                             "CONSOLE_HOST": "0.0.0.0", "CONSOLE_PORT": str(free_port())}, timeout=60)
    assert result.returncode == 2
    assert "CONSOLE_USERS is empty" in result.stderr and "Traceback" not in result.stderr
