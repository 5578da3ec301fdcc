"""`log`: one structured line naming the automation, contact and trigger, with the message."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from actions.base import PermanentFailure
from actions.log import LogParams, handler


def test_logs_one_line_with_the_rendered_message(make_ctx):
    with capture_logs() as lines:
        handler.run(make_ctx(), LogParams(message="{{ contact.name }} is {{ contact.stage }}"))
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "automation action"
    assert line["log_level"] == "info"
    assert (line["automation"], line["contact_id"], line["trigger"]) == ("renewal-heads-up", "acme-1", "renewal_due")
    assert line["message"] == "Acme is customer"


def test_default_message(make_ctx):
    with capture_logs() as lines:
        handler.run(make_ctx(), LogParams())
    assert lines[0]["message"] == "renewal-heads-up fired for acme-1 on renewal_due"


def test_unknown_variable_fails_permanently(make_ctx):
    with pytest.raises(PermanentFailure, match="`message`"):
        handler.run(make_ctx(), LogParams(message="{{ contact.nope }}"))
