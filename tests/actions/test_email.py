"""`email`: multipart messages to a real local SMTP server (aiosmtpd): plain, STARTTLS, TLS."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from actions.base import PermanentFailure, TransientFailure
from actions.email import EmailParams, handler
from worker.settings import load_settings

PASSWORD = "smtp-pa55-word-77"
PARAMS = {
    "to": "{{ contact.email }}",
    "subject": "{{ contact.name }} renews on {{ contact.renewal_date[:10] }}",
    "text": "Hello {{ contact.name }}, MRR {{ contact.mrr | money }}.",
    "html": "<p>Hello <b>{{ contact.name }}</b></p>",
    "from": "lifecycle@ops.example",
}


class Mailbox:
    """aiosmtpd handler keeping every accepted message; refuses @bounce.example with 550."""

    def __init__(self) -> None:
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@bounce.example"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self):
        return [message_from_bytes(e.content, policy=default_policy) for e in self.envelopes]


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"mailer" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tls_ca(tmp_path, monkeypatch) -> trustme.CA:
    """A throwaway CA the client trusts (through SSL_CERT_FILE, as ops with a private CA would)."""
    ca = trustme.CA()
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    return ca


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def _serve(**kwargs) -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def plain_smtp():
    yield from _serve()


@pytest.fixture
def starttls_smtp(tls_ca):
    yield from _serve(tls_context=_server_context(tls_ca), require_starttls=True,
                      authenticator=_authenticate, auth_require_tls=True)


@pytest.fixture
def implicit_tls_smtp(tls_ca):
    # auth_require_tls=False: aiosmtpd only counts STARTTLS as TLS; this socket is TLS from byte one.
    yield from _serve(ssl_context=_server_context(tls_ca), authenticator=_authenticate, auth_require_tls=False)


def _settings(url: str):
    return load_settings(smtp_url=url)


def test_sends_multipart_text_and_html_with_rendered_subject(plain_smtp, make_ctx):
    mailbox, port = plain_smtp
    ctx = make_ctx(settings=_settings(f"smtp://127.0.0.1:{port}"))
    result = handler.run(ctx, EmailParams.model_validate(PARAMS))

    (envelope,) = mailbox.envelopes
    assert envelope.mail_from == "lifecycle@ops.example"
    assert envelope.rcpt_tos == ["billing@acme.example"]
    (message,) = mailbox.messages()
    assert message["Subject"] == "Acme renews on 2026-12-01"
    assert message["To"] == "billing@acme.example"
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip() == "Hello Acme, MRR 150.00 USD."
    assert message.get_body(("html",)).get_content().strip() == "<p>Hello <b>Acme</b></p>"
    assert "1 recipient" in result.detail


def test_message_id_is_stable_across_retries_of_one_delivery(plain_smtp, make_ctx):
    mailbox, port = plain_smtp
    params = EmailParams.model_validate(PARAMS)
    settings = _settings(f"smtp://127.0.0.1:{port}")
    handler.run(make_ctx(settings=settings), params)
    handler.run(make_ctx(settings=settings), params)
    handler.run(make_ctx(settings=settings, idempotency_key="dlv_0002"), params)
    first, retry, other = (m["Message-ID"] for m in mailbox.messages())
    assert first == retry
    assert other != first
    assert first.endswith("@ops.example>")


def test_text_only_when_no_html(plain_smtp, make_ctx):
    mailbox, port = plain_smtp
    params = EmailParams.model_validate({k: v for k, v in PARAMS.items() if k != "html"})
    handler.run(make_ctx(settings=_settings(f"smtp://127.0.0.1:{port}")), params)
    (message,) = mailbox.messages()
    assert message.get_content_type() == "text/plain"


def test_starttls_with_login(starttls_smtp, make_ctx):
    mailbox, port = starttls_smtp
    url = f"smtp+starttls://mailer:{PASSWORD}@127.0.0.1:{port}?from=alerts@ops.example"
    params = EmailParams.model_validate({k: v for k, v in PARAMS.items() if k != "from"})
    handler.run(make_ctx(settings=_settings(url)), params)
    (envelope,) = mailbox.envelopes
    assert envelope.mail_from == "alerts@ops.example"  # the from= option of SMTP_URL


def test_starttls_query_flag_is_the_same_as_the_scheme(starttls_smtp, make_ctx):
    mailbox, port = starttls_smtp
    url = f"smtp://mailer:{PASSWORD}@127.0.0.1:{port}?starttls=true"
    handler.run(make_ctx(settings=_settings(url)), EmailParams.model_validate(PARAMS))
    assert len(mailbox.envelopes) == 1


def test_implicit_tls(implicit_tls_smtp, make_ctx):
    mailbox, port = implicit_tls_smtp
    url = f"smtps://mailer:{PASSWORD}@127.0.0.1:{port}"
    handler.run(make_ctx(settings=_settings(url)), EmailParams.model_validate(PARAMS))
    assert len(mailbox.envelopes) == 1


def test_wrong_password_is_permanent_and_never_shown(starttls_smtp, make_ctx):
    _, port = starttls_smtp
    wrong = "not-the-pa55word-x"
    url = f"smtp+starttls://mailer:{wrong}@127.0.0.1:{port}"
    with pytest.raises(PermanentFailure) as caught:
        handler.run(make_ctx(settings=_settings(url)), EmailParams.model_validate(PARAMS))
    assert "535" in str(caught.value)
    assert wrong not in str(caught.value)


def test_untrusted_certificate_is_permanent(starttls_smtp, make_ctx, monkeypatch, tmp_path):
    _, port = starttls_smtp
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    url = f"smtp+starttls://mailer:{PASSWORD}@127.0.0.1:{port}"
    with pytest.raises(PermanentFailure, match="certificate not trusted"):
        handler.run(make_ctx(settings=_settings(url)), EmailParams.model_validate(PARAMS))


def test_refused_recipient_is_permanent(plain_smtp, make_ctx):
    mailbox, port = plain_smtp
    params = EmailParams.model_validate({**PARAMS, "to": "nobody@bounce.example"})
    with pytest.raises(PermanentFailure, match="refused every recipient"):
        handler.run(make_ctx(settings=_settings(f"smtp://127.0.0.1:{port}")), params)
    assert mailbox.envelopes == []


def test_unreachable_server_is_transient(make_ctx):
    url = f"smtp://mailer:{PASSWORD}@127.0.0.1:{_free_port()}"
    with pytest.raises(TransientFailure) as caught:
        handler.run(make_ctx(settings=_settings(url)), EmailParams.model_validate(PARAMS))
    assert PASSWORD not in str(caught.value)


def test_missing_smtp_url_is_permanent_and_names_the_setting(make_ctx):
    with pytest.raises(PermanentFailure, match="SMTP_URL"):
        handler.run(make_ctx(settings=None), EmailParams.model_validate(PARAMS))


def test_recipient_template_rendering_to_a_non_address_is_permanent(plain_smtp, make_ctx):
    _, port = plain_smtp
    params = EmailParams.model_validate({**PARAMS, "to": "{{ contact.name }}"})
    with pytest.raises(PermanentFailure, match="`to`"):
        handler.run(make_ctx(settings=_settings(f"smtp://127.0.0.1:{port}")), params)
