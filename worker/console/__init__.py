"""The ops console: accounts, automations, deliveries, revenue and rules behind a login, on its
own listener (CONSOLE_HOST/CONSOLE_PORT), with a JSON API. See docs/console.md."""
