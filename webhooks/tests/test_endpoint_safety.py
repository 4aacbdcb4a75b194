"""Where a webhook may be sent in production: https only, public addresses only, checked at
delivery time."""
from __future__ import annotations

import socket

import pytest

from webhooks.services import UnsafeEndpoint, endpoint_target


@pytest.fixture(autouse=True)
def production(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/hook", "https://192.168.0.10/hook",
    "https://172.16.5.4/hook", "https://169.254.169.254/latest/meta-data", "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook", "https://0.0.0.0/hook", "https://100.64.0.1/hook",
    # Issue 29, item 8: blocks Python's is_global lets through, and IPv6 forms that embed IPv4.
    "https://192.0.0.1/hook", "https://192.0.0.170/hook", "https://[2002:7f00:1::]/hook",
    "https://[2002:a9fe:a9fe::1]/hook", "https://[64:ff9b::7f00:1]/hook", "https://[64:ff9b:1::a00:1]/hook",
    "https://[2001::1]/hook", "https://[2001:db8::1]/hook", "https://[100::1]/hook", "https://[fc00::1]/hook",
    "https://[fe80::1]/hook", "https://[::]/hook", "https://[::127.0.0.1]/hook", "https://192.88.99.1/hook",
    "https://198.18.0.1/hook", "https://240.0.0.1/hook", "https://224.0.0.1/hook", "https://192.0.2.1/hook",
    "https://[3fff::1]/hook", "https://[5f00::1]/hook", "https://192.0.0.9/hook", "https://192.0.0.10/hook",
    "https://192.31.196.1/hook", "https://192.175.48.1/hook", "https://[2620:4f:8000::1]/hook",
])
def test_it_refuses_loopback_private_and_link_local_addresses(url):
    with pytest.raises(UnsafeEndpoint):
        endpoint_target(url)


def test_it_refuses_plain_http():
    with pytest.raises(UnsafeEndpoint, match="https"):
        endpoint_target("http://93.184.216.34/hook")


def test_it_allows_a_public_https_address():
    assert endpoint_target("https://93.184.216.34:8443/hook?x=1") == ("https", "93.184.216.34", 8443, "/hook?x=1", "93.184.216.34")


def test_development_may_allow_loopback_and_http(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    assert endpoint_target("http://127.0.0.1:9000/hook")[4] == "127.0.0.1"


@pytest.mark.parametrize("url", ["https://user:secret@93.184.216.34/hook", "https://token@93.184.216.34/hook",
                                 "https://:pw@93.184.216.34/hook"])
def test_it_refuses_a_url_with_a_user_name_or_password(url):
    with pytest.raises(UnsafeEndpoint, match="user name or password"):
        endpoint_target(url)


def test_the_error_does_not_say_which_address_a_name_resolved_to(monkeypatch):
    # What an internal DNS would answer for an internal name (no DNS query leaves this machine).
    answer = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answer)
    with pytest.raises(UnsafeEndpoint) as refused:
        endpoint_target("https://vault.corp.example/hook")
    assert "10.20.30.40" not in str(refused.value)
    assert "vault.corp.example" in str(refused.value)


def test_a_refused_endpoint_is_recorded_on_the_delivery(db, salon, settings):
    from django_tenants.utils import tenant_context

    from webhooks.models import WebhookDelivery, WebhookEndpoint
    from webhooks.services import webhook_attempt, webhook_event_record

    settings.WEBHOOK_RETRY_SCHEDULE = []
    with tenant_context(salon):
        WebhookEndpoint.objects.create(url="https://169.254.169.254/latest")
        [delivery] = webhook_event_record(event_type="order.created", event_key="order:1:created", data={})
        webhook_attempt(delivery_id=delivery.pk)
        delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.status == "failed" and "not a public internet address" in delivery.last_error
