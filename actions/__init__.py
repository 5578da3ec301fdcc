"""Action handlers: one small module per handler, listed by name in `actions.registry`."""
