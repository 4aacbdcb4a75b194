"""Webhook endpoints as an owner meets them: each event named with what it means, the signing secret
shown once (when made) and masked after, and a "Send a test event" that goes through the real
delivery path."""
from django_tenants.utils import schema_context

from webhooks.models import WebhookDelivery, WebhookEndpoint


def add_endpoint(client):
    return client.post("/admin/webhooks/webhookendpoint/add/", {"url": "https://crm.example/hook",
                                                                "events": ["booking.created"], "active": "on"}, follow=True)


def test_each_event_is_named_with_what_it_means(salon_admin):
    page = salon_admin.get("/admin/webhooks/webhookendpoint/add/").content.decode()

    assert "booking.created: a booking was made, by the agent or by staff" in page
    assert "callback.created: a caller asked to be called back" in page


def test_the_secret_is_shown_once_then_masked(salon_admin):
    page = add_endpoint(salon_admin).content.decode()

    with schema_context("salon"):
        endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in page
    change = salon_admin.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in change and f"{endpoint.secret[:10]}…{endpoint.secret[-4:]}" in change


def test_a_new_secret_replaces_the_old_and_is_shown_once(salon_admin):
    add_endpoint(salon_admin)
    with schema_context("salon"):
        endpoint = WebhookEndpoint.objects.get()
    old = endpoint.secret

    page = salon_admin.post(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/", {
        "url": endpoint.url, "events": ["booking.created"], "active": "on", "new_secret": "on"}, follow=True).content.decode()

    with schema_context("salon"):
        new = WebhookEndpoint.objects.get().secret
    assert new != old and new in page and old not in page


def test_send_a_test_event_records_a_signed_delivery(salon_admin, django_capture_on_commit_callbacks):
    add_endpoint(salon_admin)
    with schema_context("salon"):
        endpoint = WebhookEndpoint.objects.get()

    with django_capture_on_commit_callbacks(execute=False):
        response = salon_admin.post("/admin/webhooks/webhookendpoint/", {"action": "send_test_event",
                                                                         "_selected_action": [endpoint.pk]}, follow=True)

    assert "Sent a webhook.test event to 1 endpoint" in response.content.decode()
    with schema_context("salon"):
        (delivery,) = WebhookDelivery.objects.filter(endpoint=endpoint)
        assert delivery.event_type == "webhook.test" and delivery.payload["type"] == "webhook.test"
        assert delivery.status == "pending"
