"""Where a webhook may be sent in production: https only, public addresses only, checked at
delivery time."""
from __future__ import annotations

import pytest

from webhooks.delivery import UnsafeEndpoint, endpoint_target


@pytest.fixture(autouse=True)
def production(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/hook", "https://192.168.0.10/hook",
    "https://172.16.5.4/hook", "https://169.254.169.254/latest/meta-data", "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook", "https://0.0.0.0/hook", "https://100.64.0.1/hook",
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


def test_a_refused_endpoint_is_recorded_on_the_delivery(db, salon, settings):
    from django_tenants.utils import tenant_context

    from webhooks.delivery import webhook_attempt
    from webhooks.models import WebhookDelivery, WebhookEndpoint
    from webhooks.services import webhook_event_record

    settings.WEBHOOK_RETRY_SCHEDULE = []
    with tenant_context(salon):
        WebhookEndpoint.objects.create(url="https://169.254.169.254/latest")
        [delivery] = webhook_event_record(event_type="order.created", event_key="order:1:created", data={})
        webhook_attempt(delivery_id=delivery.pk)
        delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.status == "failed" and "non-public address" in delivery.last_error
