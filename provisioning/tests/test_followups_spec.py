"""`notifications:` and `webhooks:` in a tenant's provisioning spec."""
from __future__ import annotations

import datetime as dt

import pytest
from django_tenants.utils import tenant_context

from notifications.services import notification_settings_get
from provisioning.followups import followups_spec_apply, notifications_spec_validate, webhooks_spec_validate
from provisioning.services import TenantSpecError, tenant_spec_validate
from webhooks.models import WebhookEndpoint

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def spec(**extra) -> dict:
    return {"slug": "barber", "name": "Sharp Barbers", "domain": "barber.localhost", "timezone": "Europe/London",
            "phone_numbers": ["+44 20 7946 0000"], **extra}


def test_a_spec_sets_recipients_events_and_quiet_hours(db):
    validated = tenant_spec_validate(spec(notifications={
        "emails": ["owner@barber.example"], "sms": ["07700 900123"], "events": ["callback_requested"],
        "quiet_hours": {"from": "21:00", "to": "08:00"}}))
    assert validated.notifications == {"emails": ["owner@barber.example"], "sms_numbers": ["+447700900123"],
                                       "events": ["callback_requested"], "quiet_hours": (dt.time(21), dt.time(8))}
    assert validated.webhooks is None  # left out: the tenant keeps its endpoints


@pytest.mark.parametrize(("followups", "field"), [
    ({"notifications": {"emails": ["not-an-address"]}}, "notifications.emails[0]"),
    ({"notifications": {"events": ["everything"]}}, "notifications.events[0]"),
    ({"notifications": {"pager": []}}, "notifications.pager"),
    ({"notifications": {"quiet_hours": {"from": "22:00"}}}, "notifications.quiet_hours"),
    ({"webhooks": [{"url": "ftp://crm.example/hook"}]}, "webhooks[0].url"),
    ({"webhooks": [{"url": "https://crm.example/hook", "secret": "hunter2"}]}, "webhooks[0].secret"),
    ({"webhooks": [{"url": "https://crm.example/hook", "events": ["call.started"]}]}, "webhooks[0].events[0]"),
    # Issue 29, item 8: what delivery refuses is refused when the spec is read.
    ({"webhooks": [{"url": "http://crm.example/hook"}]}, "webhooks[0].url"),
    ({"webhooks": [{"url": "https://127.0.0.1/hook"}]}, "webhooks[0].url"),
    ({"webhooks": [{"url": "https://[2002:7f00:1::]/hook"}]}, "webhooks[0].url"),
    ({"webhooks": [{"url": "https://192.0.0.8/hook"}]}, "webhooks[0].url"),
    ({"webhooks": [{"url": "https://localhost:8443/hook"}]}, "webhooks[0].url"),
    ({"webhooks": [{"url": "https://user:pw@crm.example/hook"}]}, "webhooks[0].url"),
    ({"webhooks": [{"url": f"https://crm.example/hook/{n}"} for n in range(11)]}, "webhooks"),
])
def test_a_bad_follow_up_spec_names_the_field(db, followups, field):
    with pytest.raises(TenantSpecError) as error:
        tenant_spec_validate(spec(**followups))
    assert error.value.field == field


def test_applying_a_spec_writes_it_once(db, salon):
    notifications = notifications_spec_validate({"emails": ["owner@salon.example"]}, region="US")
    webhooks = webhooks_spec_validate([{"url": "https://crm.example/hook", "secret": SECRET, "events": ["booking.created"]},
                                       {"url": "https://sheet.example/hook"}])
    with tenant_context(salon):
        changes: list[str] = []
        followups_spec_apply(notifications=notifications, webhooks=webhooks, changes=changes)
        assert notification_settings_get().emails == ["owner@salon.example"]
        assert notification_settings_get().wants("message_left")  # no events listed: all of them
        crm, sheet = WebhookEndpoint.objects.order_by("url")
        assert (crm.secret, crm.events) == (SECRET, ["booking.created"])
        assert sheet.secret.startswith("whsec_") and sheet.events == []
        again: list[str] = []
        followups_spec_apply(notifications=notifications, webhooks=webhooks, changes=again)
        assert again == []
        followups_spec_apply(notifications=None, webhooks=webhooks[:1], changes=again)
        assert again == ["webhooks removed"] and not WebhookEndpoint.objects.get(url="https://sheet.example/hook").active
