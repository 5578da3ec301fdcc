"""The console app in-process (TestClient) on a synced sandbox account: login, CSRF, headers,
every route behind auth, the JSON API's accounts equal `accounts --json`, re-drive + audit."""

from __future__ import annotations

import pytest

from tests.console.conftest import METRICS, NOW, PASSWORD, TOKEN, csrf_of, log_in

PAGES = ["/", "/accounts", "/accounts/x", "/automations", "/automations/renewal-heads-up", "/deliveries",
         "/revenue", "/report", "/rules"]
API = ["/api/accounts", "/api/accounts/x", "/api/accounts/x/timeline", "/api/accounts/x/explain", "/api/deliveries",
       "/api/report", "/api/audit", "/api/openapi.json", "/api/automations/renewal-heads-up/explain", "/metrics"]
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_every_page_redirects_to_login_and_every_api_route_answers_401_without_credentials(console):
    for path in PAGES:
        answer = console.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next="), path
    for path in API:
        assert console.get(path).status_code == 401, path
        assert console.get(path, headers={"Authorization": "Bearer wrong-token-0000000000"}).status_code == 401
    for path in ("/deliveries/retry", "/deliveries/cancel", "/api/deliveries/1/retry", "/logout"):
        assert console.post(path).status_code in (401, 303), path


def test_login_sets_a_signed_httponly_samesite_cookie_and_wrong_passwords_are_throttled(console):
    assert log_in(console, password="nope").status_code == 401
    answer = log_in(console)
    assert answer.status_code == 303 and answer.headers["location"] == "/accounts"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert console.get("/accounts").status_code == 200
    console.cookies.clear()
    statuses = [log_in(console, user="bob", password="x").status_code for _ in range(6)]
    assert statuses[0] == 401 and statuses[-1] == 429  # 5 failures from one address in 5 minutes
    assert log_in(console).status_code == 429  # even the right password waits


def test_a_post_without_the_csrf_token_is_403_and_changes_nothing(console, world):
    log_in(console)
    assert console.post("/deliveries/retry", data={"id": str(world.dead_id)}).status_code == 403
    assert console.post("/api/deliveries/%d/retry" % world.dead_id).status_code == 403
    assert console.post("/login", data={"username": "ann", "password": PASSWORD}).status_code == 403
    state = console.get(f"/api/deliveries?state=dead").json()
    assert [d["id"] for d in state["deliveries"]] == [world.dead_id]


def test_security_headers_on_every_answer(console):
    for answer in (console.get("/login"), console.get("/accounts"), console.get("/api/accounts")):
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["referrer-policy"] == "no-referrer"
    log_in(console)
    page = console.get("/revenue").text
    assert "<script>" not in page and "Plotly.newPlot" not in page  # charts drawn by /static/console.js
    plotly = console.get("/static/vendor/plotly.min.js")
    assert plotly.status_code == 200 and "max-age" in plotly.headers["cache-control"]


def test_api_accounts_are_the_objects_of_accounts_json_with_exact_mrr(console, world, cli):
    import json

    env = {"DATABASE_URL": str(world.store.engine.url.render_as_string(hide_password=False)),
           "RULES_DIR": str(world.rules_dir)}
    expected = json.loads(cli("accounts", "--json", "--now", NOW.isoformat(), env=env).stdout)
    got = console.get("/api/accounts?per_page=200", headers=BEARER).json()
    assert got["total"] == world.contacts == len(expected)
    assert sorted(got["accounts"], key=lambda a: a["contact_id"]) == expected
    assert sum(a["mrr"]["amount_minor"] for a in expected) > 0
    one = console.get(f"/api/accounts/{expected[0]['contact_id']}", headers=BEARER).json()
    assert one == expected[0]
    from worker.core.money import FxTable
    from worker.rules.loader import load_rules

    fx = FxTable.from_config(load_rules(world.rules_dir, {}).source.mrr)
    worth = {a["contact_id"]: fx.convert_minor(a["mrr"]["amount_minor"], a["mrr"]["currency"]) for a in expected}
    by_mrr = console.get("/api/accounts?sort=mrr&per_page=5", headers=BEARER).json()
    assert [worth[a["contact_id"]] for a in by_mrr["accounts"]] == sorted(worth.values(), reverse=True)[:5]
    assert by_mrr["mrr_total_reporting"]["amount_minor"] == fx.rounded_total(
        {t["currency"]: t["amount_minor"] for t in by_mrr["mrr_total"]})
    assert console.get("/api/accounts?stage=nonsense", headers=BEARER).status_code == 400


def test_search_by_name_email_and_stripe_customer_id(console, world):
    account = console.get(f"/api/accounts/{world.contact}", headers=BEARER).json()
    for text in (account["name"], account["email"], account["stripe_customer_ids"][0]):
        if text:
            found = console.get("/api/accounts", params={"q": text}, headers=BEARER).json()["accounts"]
            assert world.contact in [a["contact_id"] for a in found], text
    nothing = console.get("/api/accounts", params={"q": "zz-no-such-contact"}, headers=BEARER).json()
    assert nothing["total"] == 0 and nothing["accounts"] == [] and nothing["mrr_total"] == []
    assert console.get("/api/accounts", params={"q": "%"}, headers=BEARER).json()["total"] == 0  # no wildcard


def test_redrive_via_api_keeps_the_key_resets_to_pending_and_is_audited(console, world):
    before = console.get(f"/api/deliveries?state=dead", headers=BEARER).json()["deliveries"][0]
    answer = console.post(f"/api/deliveries/{world.dead_id}/retry", headers=BEARER)
    assert answer.status_code == 200
    after = answer.json()["delivery"]
    assert after["state"] == "pending" and after["idempotency_key"] == before["idempotency_key"]
    assert console.post(f"/api/deliveries/{world.dead_id}/retry", headers=BEARER).status_code == 409
    assert console.post("/api/deliveries/999999/retry", headers=BEARER).status_code == 404
    audit = console.get("/api/audit", headers=BEARER).json()["entries"]
    assert [(e["actor"], e["action"], e["target"]) for e in audit] == [
        ("token:ci", "delivery.retry", f"delivery:{world.dead_id}")]


def test_page_redrive_and_cancel_with_csrf_are_audited_with_the_user(console, world):
    log_in(console)
    token = csrf_of(console.get("/deliveries?state=dead").text)
    done = console.post("/deliveries/retry", data={"id": str(world.dead_id), "csrf_token": token})
    assert done.status_code == 303
    done = console.post("/deliveries/cancel", data={"id": str(world.pending_id), "csrf_token": token})
    assert done.status_code == 303
    states = {d["id"]: d["state"] for d in console.get("/api/deliveries").json()["deliveries"]}
    assert states[world.dead_id] == "pending" and states[world.pending_id] == "canceled"
    audit = console.get("/api/audit").json()["entries"]
    assert {(e["actor"], e["action"]) for e in audit} == {("ann", "delivery.retry"), ("ann", "delivery.cancel")}


def test_metrics_takes_the_metrics_token(console):
    assert console.get("/metrics", headers={"Authorization": f"Bearer {METRICS}"}).status_code == 200
    assert console.get("/api/accounts", headers={"Authorization": f"Bearer {METRICS}"}).status_code == 401


def test_pages_render_for_a_logged_in_user(console, world):
    log_in(console)
    for path in PAGES[1:]:
        path = path.replace("/x", f"/{world.contact}")
        answer = console.get(path, follow_redirects=True)
        assert answer.status_code == 200, (path, answer.text[:300])
    account = console.get(f"/accounts/{world.contact}").text
    assert "renewal-heads-up" in account and "delivery #" in account and "HTTP 500" in account
    why = console.get(f"/automations/renewal-heads-up?contact_id={world.contact}").text
    assert "if stage" in why
    assert "valid" in console.get("/rules").text


def test_openapi_document_lists_the_api(console):
    doc = console.get("/api/openapi.json", headers=BEARER).json()
    assert doc["openapi"].startswith("3.") and {"/api/accounts", "/api/accounts/{contact_id}", "/api/deliveries",
                                                "/api/deliveries/{id}/retry", "/api/report"} <= set(doc["paths"])


def test_non_loopback_console_without_users_refuses_to_start(world):
    from worker.console.app import create_console_app
    from worker.errors import ConfigError
    from worker.settings import load_settings

    with pytest.raises(ConfigError, match="CONSOLE_USERS"):
        create_console_app(load_settings(rules_dir=world.rules_dir, console_host="0.0.0.0"), world.store,
                           clock=lambda: NOW)


def test_trusted_proxy_header_is_off_by_default_and_only_believed_from_trusted_peers(world):
    from starlette.testclient import TestClient

    from tests.console.conftest import console_settings
    from worker.console.app import create_console_app

    header = {"X-Forwarded-User": "mallory"}
    off = create_console_app(console_settings(world.rules_dir), world.store, clock=lambda: NOW)
    with TestClient(off, follow_redirects=False) as client:
        assert client.get("/api/accounts", headers=header).status_code == 401
    on = create_console_app(console_settings(world.rules_dir, console_proxy_user_header="X-Forwarded-User",
                                             console_trusted_proxies="testclient"), world.store, clock=lambda: NOW)
    with TestClient(on, follow_redirects=False) as client:
        assert client.get("/api/accounts", headers=header).status_code == 200
    untrusted = create_console_app(console_settings(world.rules_dir, console_proxy_user_header="X-Forwarded-User"),
                                   world.store, clock=lambda: NOW)
    with TestClient(untrusted, follow_redirects=False) as client:  # peer "testclient" is not 127.0.0.1
        assert client.get("/api/accounts", headers=header).status_code == 401


def test_at_risk_view_is_cancellation_scheduled_past_due_or_renewing_soon(console, world):
    from datetime import datetime, timedelta

    everyone = console.get("/api/accounts?per_page=200", headers=BEARER).json()["accounts"]

    def risky(account) -> bool:
        renewal = account["renewal_date"] and datetime.fromisoformat(account["renewal_date"].replace("Z", "+00:00"))
        subs = account["subscriptions"]
        return bool(renewal and NOW <= renewal <= NOW + timedelta(days=30)) or any(
            s["status"] in ("past_due", "unpaid")
            or (s["status"] in ("active", "trialing", "incomplete") and (s["cancel_at_period_end"] or s["cancel_at"]))
            for s in subs)

    expected = {a["contact_id"] for a in everyone if risky(a)}
    got = console.get("/api/accounts?at_risk=1&days=30&per_page=200", headers=BEARER).json()
    assert {a["contact_id"] for a in got["accounts"]} == expected and got["total"] == len(expected)
    assert 0 < len(expected) < len(everyone)
    stake = {}
    for a in everyone:
        if a["contact_id"] in expected:
            stake[a["mrr"]["currency"]] = stake.get(a["mrr"]["currency"], 0) + a["mrr"]["amount_minor"]
    assert {t["currency"]: t["amount_minor"] for t in got["mrr_total"]} == stake


def test_contacts_not_yet_evaluated_are_listed_and_sort_last(console, world):
    from sqlalchemy import delete, select

    from worker.store.models import ContactState

    with world.store.session() as session:
        keep = session.scalars(select(ContactState.contact_id).order_by(ContactState.contact_id).limit(5)).all()
        session.execute(delete(ContactState).where(ContactState.contact_id.not_in(keep)))
    for sort in ("mrr", "renewal", "contact"):
        pages = [console.get(f"/api/accounts?sort={sort}&per_page=7&page={n}", headers=BEARER).json() for n in (1, 2, 3, 4)]
        ids = [a["contact_id"] for page in pages for a in page["accounts"]]
        assert len(ids) == len(set(ids)) == world.contacts == pages[0]["total"], sort
        if sort != "contact":
            assert set(ids[:5]) == set(keep)  # those with a stored state first


def test_users_parse_argon2_and_bcrypt_entries_apart_by_semicolons_or_commas():
    import bcrypt

    from worker.console.auth import Access, hash_password, parse_users
    from worker.errors import ConfigError

    argon = hash_password("pass-one-1")
    crypt = bcrypt.hashpw(b"pass-two-2", bcrypt.gensalt(rounds=4)).decode()
    for raw in (f"ann:{argon};bob:{crypt}", f"ann:{argon},bob:{crypt}", f"ann:{argon} bob:{crypt}"):
        users = parse_users(raw)
        assert users == {"ann": argon, "bob": crypt}, raw
        access = Access(users, {}, None)
        assert access.check_password("ann", "pass-one-1") and access.check_password("bob", "pass-two-2")
        assert not access.check_password("bob", "pass-one-1") and not access.check_password("eve", "pass-one-1")
    with pytest.raises(ConfigError, match="CONSOLE_USERS entry 1"):
        parse_users("ann:plaintext")


def test_a_forged_or_foreign_session_cookie_is_refused(console, world):
    from itsdangerous import TimestampSigner
    import base64
    import json as jsonlib

    payload = base64.b64encode(jsonlib.dumps({"user": "ann", "csrf": "x"}).encode())
    forged = TimestampSigner("not-the-console-secret").sign(payload).decode()
    for cookie in (forged, "garbage", payload.decode()):
        console.cookies.set("lifecycle_console", cookie)
        assert console.get("/api/accounts").status_code == 401
        assert console.get("/accounts").status_code == 303
        assert console.post(f"/api/deliveries/{world.dead_id}/retry", headers={"X-CSRF-Token": "x"}).status_code == 401
