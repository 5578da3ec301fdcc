"""Entry point of the `stripe-lifecycle` console script: registers every command module (each
imports its heavy dependencies only when its command runs)."""

from __future__ import annotations

from worker.cli import commands  # noqa: F401  (registers the commands on `app`)
from worker.cli.app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
