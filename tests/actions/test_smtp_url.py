"""SMTP_URL parsing: schemes, default ports, options; errors never echo the password."""

from __future__ import annotations

import pytest

from actions.smtp import SmtpUrlError, parse_smtp_url


@pytest.mark.parametrize(
    "url, security, port",
    [
        ("smtp://mail.example.com", "plain", 25),
        ("smtp://u:p@mail.example.com:2525", "plain", 2525),
        ("smtp://u:p@mail.example.com?starttls=true", "starttls", 587),
        ("smtp+starttls://u:p@mail.example.com", "starttls", 587),
        ("smtps://u:p@mail.example.com", "tls", 465),
        ("SMTPS://u:p@mail.example.com:1465", "tls", 1465),
    ],
)
def test_schemes_and_default_ports(url, security, port):
    target = parse_smtp_url(url)
    assert (target.host, target.security, target.port) == ("mail.example.com", security, port)


def test_credentials_are_percent_decoded_and_hidden_from_repr():
    target = parse_smtp_url("smtps://apikey%40corp:p%40ss%2Fw0rd@mail.example.com?from=ops@example.com&timeout=5")
    assert (target.username, target.password) == ("apikey@corp", "p@ss/w0rd")
    assert (target.default_from, target.timeout) == ("ops@example.com", 5.0)
    assert "p@ss/w0rd" not in repr(target)


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("http://u:hunter2pass@mail.example.com", "must start with smtp://"),
        ("smtp://u:hunter2pass@", "no host"),
        ("smtp://u:hunter2pass@mail.example.com:notaport", "not a valid URL"),
        ("smtp://u:hunter2pass@mail.example.com?timeout=soon", "timeout"),
    ],
)
def test_malformed_urls_are_explained_without_the_password(url, fragment):
    with pytest.raises(SmtpUrlError) as caught:
        parse_smtp_url(url)
    assert fragment in str(caught.value)
    assert "hunter2pass" not in str(caught.value)
