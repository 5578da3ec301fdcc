"""Each module registers one command (or group) on `worker.cli.app.app`."""

from worker.cli.commands import (  # noqa: F401
    accounts,
    check,
    connect,
    console,
    contacts,
    demo,
    evaluate,
    processes,
    report,
    sync,
)
