"""`python -m worker.runtime.dramatiq_main worker.tasks …`: dramatiq's CLI with our JSON logs.

Plain `dramatiq worker.tasks` configures logging itself (`logging.basicConfig` with its own
text format) in the main process, so its lines are not JSON. Here logging is configured first
(the settings' LOG_FORMAT/LOG_LEVEL, redaction included) and dramatiq is told to leave it
alone (`--skip-logging`); worker processes inherit it and write through dramatiq's pipe.
`stripe-lifecycle worker` and the Procfile use this entry.
"""

from __future__ import annotations

import sys

from dramatiq.cli import main as dramatiq_main
from dramatiq.cli import make_argument_parser

from worker.logs import configure_logging, register_secrets
from worker.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    register_secrets(settings.secrets())
    args = list(sys.argv[1:] if argv is None else argv)
    if "--skip-logging" not in args:
        args.append("--skip-logging")
    return dramatiq_main(make_argument_parser().parse_args(args))


if __name__ == "__main__":
    sys.exit(main())
