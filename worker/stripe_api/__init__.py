"""The Stripe seam: one client wrapper around `stripe.StripeClient` (adapter layer)."""
