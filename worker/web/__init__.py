"""The web process: Stripe webhook receiver, /healthz, /metrics, /report (wiring layer)."""
