"""What a log line or an attempt's error may say about an endpoint: scheme, host and port."""

from __future__ import annotations

import doctest

import pytest

from acadio_webhooks.adapters.transport import _common
from acadio_webhooks.adapters.transport._common import scrub_urls
from acadio_webhooks.observability import _logging as observability
from acadio_webhooks.observability import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/XXXXSECRET", "https://hooks.slack.com"),
        ("https://hooks.zapier.com/hooks/catch/123/abc/", "https://hooks.zapier.com"),
        ("https://u:p@[2001:db8::1]:8443/in?k=v#f", "https://[2001:db8::1]:8443"),
        ("https://hooks.example.com:bad/x", "https://hooks.example.com"),
        ("http://[::1", "(unparsable URL)"),
    ],
)
def test_a_logged_endpoint_keeps_scheme_host_and_port_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_urls_quoted_in_client_errors_lose_path_query_and_userinfo() -> None:
    text = "Cannot connect to https://u:pw@h.example.com:8443/in/T0K3N?x=1 and http://o.example/a"
    assert scrub_urls(text) == "Cannot connect to https://h.example.com:8443 and http://o.example"


@pytest.mark.parametrize("module", [observability, _common])
def test_the_documented_examples_hold(module: object) -> None:
    results = doctest.testmod(module)  # type: ignore[arg-type]
    assert results.attempted > 0
    assert results.failed == 0
