"""New bookings and new orders taken by the agent are notification events the owner chooses like any
other; the events are explicit choices (none ticked is none); a new business's alerts go to its
owner's email."""
from __future__ import annotations

import datetime as dt
import re

from django_tenants.utils import schema_context

from notifications.models import Notification
from notifications.tests.helpers import notifications_in, recipients_set, wait_until
from voiceapi.tests.voice_api import CALLER, a_call, tenant_named, tool

MONDAY_MORNING = dt.datetime(2026, 3, 9, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
FRIDAY_EVENING_BERLIN = dt.datetime(2026, 3, 13, 18, 0, tzinfo=dt.UTC)


def test_a_booking_the_agent_takes_alerts_the_owner(committed_db, api_server, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)
    recipients_set("salon", emails=["owner@salon.example"])
    _call, token = a_call(tenant_named("salon"))

    response = tool(api_server, token, "create_booking", {"confirmed": True, "service": "colour", "start": "2026-03-10T14:00",
                                                           "customer_name": "Ann Smith", "customer_phone": CALLER})

    assert response.status_code == 200, response.text
    (alert,) = wait_until(lambda: notifications_in("salon", event="booking_created"), what="the alert")
    assert alert.recipient == "owner@salon.example"
    assert alert.subject == "New booking: Colour Tue 10 Mar at 2:00 PM (Ann Smith)"


def test_an_order_the_agent_takes_alerts_the_kitchen(committed_db, api_server, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: FRIDAY_EVENING_BERLIN)
    recipients_set("pizzeria", emails=["kitchen@pizzeria.example"], sms=["+4930901820"])
    _call, token = a_call(tenant_named("pizzeria"))

    response = tool(api_server, token, "create_order", {"confirmed": True, "items": [{"name": "margherita", "quantity": 2}],
                                                         "customer_name": "Ann Smith", "customer_phone": "+1 555 765 4321"})

    assert response.status_code == 200, response.text
    alerts = wait_until(lambda: notifications_in("pizzeria", event="order_created"), what="the alerts")
    assert {(alert.channel, alert.recipient) for alert in alerts} == {("email", "kitchen@pizzeria.example"),
                                                                       ("sms", "+4930901820")}
    email = next(alert for alert in alerts if alert.channel == "email")
    assert email.subject.startswith("New order #") and "19.00 EUR" in email.subject and "2 x Margherita" in email.body


def test_no_event_ticked_means_no_alert(committed_db, api_server, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)
    recipients_set("salon", emails=["owner@salon.example"], events=[])
    _call, token = a_call(tenant_named("salon"))

    tool(api_server, token, "log_note", {"note": "Call me back"})
    tool(api_server, token, "create_booking", {"confirmed": True, "service": "colour", "start": "2026-03-10T14:00",
                                               "customer_name": "Ann Smith", "customer_phone": CALLER})

    with schema_context("salon"):
        assert Notification.objects.count() == 0


def test_the_settings_page_lists_the_events_as_choices(salon_admin):
    response = salon_admin.get("/admin/notifications/notificationsettings/", follow=True)
    page = response.content.decode()

    assert "New booking made by phone" in page and "New order placed by phone" in page
    assert "Tick none to get every event" not in page and "Only the ticked events are sent" in page
    # A business that has not chosen yet gets every event, ticked.
    assert re.search(r'value="booking_created"[^>]*checked', page)
