"""Automations at run time: evaluate (snapshots → occurrences → matches) and fire (the outbox)."""
