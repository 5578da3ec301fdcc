"""The `stripe-lifecycle` command: one module per command under `worker.cli.commands`."""
