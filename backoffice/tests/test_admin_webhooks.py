"""The owner's admin pages for webhooks and notifications."""
from __future__ import annotations

from django_tenants.utils import schema_context

from notifications.models import Notification
from notifications.services import notification_settings_get
from webhooks.models import WebhookDelivery, WebhookEndpoint


def test_the_owner_adds_an_endpoint_with_a_generated_secret(salon_admin, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    form = salon_admin.get("/admin/webhooks/webhookendpoint/add/").content.decode()
    assert "whsec_" in form
    refused = salon_admin.post("/admin/webhooks/webhookendpoint/add/", {"url": "http://crm.example/hook",
                                                                        "secret": "whsec_" + "a" * 32, "active": "on"})
    assert "must be an https:// URL" in refused.content.decode()
    response = salon_admin.post("/admin/webhooks/webhookendpoint/add/", {
        "url": "https://crm.example/hook", "secret": "whsec_" + "a" * 32, "events": ["booking.created", "call.ended"],
        "active": "on"})
    assert response.status_code == 302
    with schema_context("salon"):
        endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["booking.created", "call.ended"]


def test_the_owner_sees_each_delivery_and_can_send_one_again(salon_admin, django_capture_on_commit_callbacks):
    with schema_context("salon"):
        endpoint = WebhookEndpoint.objects.create(url="https://crm.example/hook")
        delivery = WebhookDelivery.objects.create(endpoint=endpoint, event_type="order.created", event_key="order:7:created",
                                                  message_id="msg_abc", payload={}, status="failed", attempts=9,
                                                  last_status_code=500, last_error="The endpoint answered HTTP 500.")
    page = salon_admin.get("/admin/webhooks/webhookdelivery/").content.decode()
    assert "order.created" in page and "Failed" in page and "500" in page
    with django_capture_on_commit_callbacks() as callbacks:
        salon_admin.post("/admin/webhooks/webhookdelivery/", {"action": "send_again", "_selected_action": [delivery.pk]})
    assert len(callbacks) == 1  # the delivery task is queued after the commit
    with schema_context("salon"):
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.message_id) == ("pending", 0, "msg_abc")


def test_the_owner_sets_recipients_and_sees_a_failed_email(salon_admin):
    response = salon_admin.post("/admin/notifications/notificationsettings/add/", {
        "emails": "owner@salon.example\nfrontdesk@salon.example", "sms_numbers": "(555) 777-0001",
        "events": ["callback_requested", "message_left"], "quiet_hours_start": "22:00", "quiet_hours_end": "07:00",
        "digest_enabled": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context("salon"):
        notification_settings = notification_settings_get()
        Notification.objects.create(event="message_left", event_key="note:1", channel="email", recipient="owner@salon.example",
                                    subject="Message from +15557654321", body="x", status="failed",
                                    error="Gave up after 6 attempts. 451 Try again later")
    assert notification_settings.emails == ["owner@salon.example", "frontdesk@salon.example"]
    assert notification_settings.sms_numbers == ["+15557770001"]
    page = salon_admin.get("/admin/notifications/notification/?status__exact=failed").content.decode()
    assert "Message from +15557654321" in page and "Gave up after 6 attempts" in page


# --- issue 29, item 8: the endpoint form refuses what delivery would refuse, when it is saved ----

import pytest  # noqa: E402


def endpoint_form_post(client, url: str):
    return client.post("/admin/webhooks/webhookendpoint/add/", {"url": url, "secret": "whsec_" + "a" * 32, "active": "on"})


@pytest.mark.parametrize(("url", "said"), [
    ("https://127.0.0.1/hook", "not a public internet address"),
    ("https://10.0.0.5/hook", "not a public internet address"),
    ("https://192.0.0.9/hook", "not a public internet address"),
    ("https://[2002:7f00:1::]/hook", "not a public internet address"),
    ("https://[::1]:8443/hook", "not a public internet address"),
    ("https://169.254.169.254/latest", "not a public internet address"),
    ("https://localhost/hook", "not a public internet address"),
    ("https://crm.localhost/hook", "not a public internet address"),
    ("https://zapier:hunter2@hooks.example/catch", "user name or password"),
    ("http://93.184.216.34/hook", "must be an https:// URL"),
])
def test_the_owner_cannot_save_an_endpoint_delivery_would_refuse(salon_admin, settings, url, said):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = endpoint_form_post(salon_admin, url)
    assert response.status_code == 200 and said in response.content.decode()
    with schema_context("salon"):
        assert not WebhookEndpoint.objects.exists()


def test_a_business_has_at_most_the_capped_number_of_endpoints(salon_admin, settings):
    settings.WEBHOOK_ALLOW_PRIVATE, settings.WEBHOOK_ENDPOINTS_MAX = False, 3
    for index in range(3):
        assert endpoint_form_post(salon_admin, f"https://93.184.216.34/hook/{index}").status_code == 302
    refused = endpoint_form_post(salon_admin, "https://93.184.216.34/hook/4")
    assert refused.status_code == 200 and "at most 3 webhook endpoints" in refused.content.decode()
    with schema_context("salon"):
        assert WebhookEndpoint.objects.count() == 3
        first = WebhookEndpoint.objects.order_by("pk").first()
    # Editing one of the three is not adding a fourth.
    edited = salon_admin.post(f"/admin/webhooks/webhookendpoint/{first.pk}/change/",
                              {"url": "https://93.184.216.34/other", "secret": first.secret, "active": "on"})
    assert edited.status_code == 302
