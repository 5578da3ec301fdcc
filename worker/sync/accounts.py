"""The Stripe accounts of a deployment, and what belongs to each (wiring).

    for account in stripe_accounts(settings, rules):   # rules/stripe.yaml `accounts:`, else `default`
        account.name, account.api_key(), account.api_base, account.webhook_secret

With no `accounts:` in the rules there is one account, `default`, from STRIPE_API_KEY,
STRIPE_API_BASE and STRIPE_WEBHOOK_SECRET, exactly as before accounts existed. Every stored
Stripe object, quarantine entry, SyncState key and sync lock belongs to one account:
`state_key("eu", "events_cursor")` is `eu:events_cursor`, and the `default` account keeps the
bare names, so a database from before accounts (revision 0006 gives its rows the account
`default`) resumes with its cursor and backfill position as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from worker.errors import ConfigError
from worker.rules.model import RuleSet
from worker.settings import Settings
from worker.store.models import DEFAULT_ACCOUNT

DEFAULT = DEFAULT_ACCOUNT


@dataclass(frozen=True)
class StripeAccount:
    """One Stripe account: its name, key, API base and (optional) webhook signing secret."""

    name: str
    key: SecretStr | None
    api_base: str
    webhook_secret: SecretStr | None

    def api_key(self) -> str:
        """The key, or a ConfigError naming what to set (never the key itself)."""
        if self.key is None or not self.key.get_secret_value():
            if self.name == DEFAULT:
                raise ConfigError("STRIPE_API_KEY is not set.",
                                  fix="Set it to a secret key (sk_…) or a restricted key (rk_…) from the "
                                      "Stripe dashboard, in the environment or in .env.")
            raise ConfigError(f"The Stripe account '{self.name}' has no API key.",
                              fix="Set the variable its api_key names in rules/stripe.yaml.")
        return self.key.get_secret_value()


def stripe_accounts(settings: Settings, rules: RuleSet | None) -> list[StripeAccount]:
    """The accounts to sync, in the rules' order (one `default` account when none is listed)."""
    if rules is not None and rules.accounts:
        return [StripeAccount(a.name, a.api_key, a.api_base or settings.stripe_api_base, a.webhook_secret)
                for a in rules.accounts]
    return [StripeAccount(DEFAULT, settings.stripe_api_key, settings.stripe_api_base,
                          settings.stripe_webhook_secret)]


def find_account(accounts: list[StripeAccount], name: str) -> StripeAccount:
    for account in accounts:
        if account.name == name:
            return account
    raise ConfigError(f"There is no Stripe account named '{name}'.",
                      fix=f"Use one of {', '.join(a.name for a in accounts)} (rules/stripe.yaml accounts:).")


def state_key(account: str, key: str) -> str:
    """A SyncState key of one account (`default` keeps the names from before accounts)."""
    return key if account == DEFAULT else f"{account}:{key}"


def lock_name(account: str) -> str:
    """The database lock one account's sync holds: accounts sync at the same time."""
    return "sync" if account == DEFAULT else f"sync-{account}"
