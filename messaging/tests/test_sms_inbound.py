"""Texts customers send back, through SignalWire's signed inbound webhook: STOP opts the number out of
the business's texts (confirmed once, honoured before every send), START opts back in, HELP answers
with the business's name and number, anything else reaches staff."""
import datetime as dt

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from backoffice.tests.factories import booking_make
from bookings.sms import booking_confirmation_queue
from messaging.models import SmsMessage, SmsOptOut, SmsReply
from notifications.models import Notification
from notifications.tests.helpers import recipients_set
from soniq_site.sms_webhook import signalwire_signature
from tenants.agent.models import AgentSettings
from testing.demo_tenants import NEW_YORK, SALON_NUMBER

KEY = "PSK_test_signing_key"
CUSTOMER = "+12125550142"


@pytest.fixture
def signing_key(settings):
    settings.SIGNALWIRE_SIGNING_KEY = KEY
    settings.SITE_SCHEME = "https"


def text_in(body: str, *, sid: str = "SM1", key: str = KEY, sender: str = CUSTOMER):
    params = {"MessageSid": sid, "From": sender, "To": SALON_NUMBER, "Body": body}
    signature = signalwire_signature(key=key, url="https://localhost/sms/inbound",
                                     params={name: [value] for name, value in params.items()})
    return Client(HTTP_HOST="localhost").post("/sms/inbound", params, HTTP_X_SIGNALWIRE_SIGNATURE=signature)


def test_stop_opts_the_number_out_confirms_once_and_no_text_follows(salon, signing_key):
    first = text_in("Stop")
    second = text_in("STOP", sid="SM2")

    assert first.status_code == 200 and "you will get no more texts from us" in first.content.decode()
    assert "<Message>" not in second.content.decode()
    with schema_context("salon"):
        assert SmsOptOut.objects.get(number=CUSTOMER).opted_out
        AgentSettings.objects.update(sms_confirmations=True)
        booking = booking_make(service_name="Colour", start=dt.datetime(2026, 12, 10, 11, tzinfo=NEW_YORK))
        booking.customer_phone = CUSTOMER
        sms = booking_confirmation_queue(booking=booking)
        assert sms.status == SmsMessage.Status.SKIPPED and "texted STOP" in sms.error


def test_start_opts_back_in(salon, signing_key):
    text_in("STOP")
    response = text_in("start", sid="SM2")

    assert "you will get our texts again" in response.content.decode()
    with schema_context("salon"):
        assert not SmsOptOut.objects.get(number=CUSTOMER).opted_out


def test_help_answers_with_the_business_name_and_number(salon, signing_key):
    body = text_in("HELP").content.decode()

    assert "Bella Hair Studio: call us on +15550100001" in body


def test_any_other_reply_reaches_staff_once(salon, signing_key):
    with schema_context("salon"):
        recipients_set("salon", emails=["owner@salon.example"])

    text_in("Can I move my colour to 3pm?", sid="SM9")
    text_in("Can I move my colour to 3pm?", sid="SM9")  # SignalWire retried

    with schema_context("salon"):
        (reply,) = SmsReply.objects.all()
        assert (reply.from_number, reply.body) == (CUSTOMER, "Can I move my colour to 3pm?")
        (alert,) = Notification.objects.filter(event="sms_reply")
        assert alert.recipient == "owner@salon.example" and "Can I move my colour" in alert.body


def test_the_staff_see_the_reply_in_the_admin(salon_admin, signing_key):
    text_in("Running 10 minutes late", sid="SM5")

    page = salon_admin.get("/admin/messaging/smsreply/").content.decode()

    assert "Running 10 minutes late" in page and "+1 212-555-0142" in page


@pytest.mark.parametrize("key", ["wrong-key", ""])
def test_an_unsigned_or_wrongly_signed_text_is_refused_and_changes_nothing(salon, signing_key, key):
    response = text_in("STOP", key=key or "x")

    assert response.status_code == 403
    with schema_context("salon"):
        assert not SmsOptOut.objects.exists()


def test_without_a_signing_key_every_text_is_refused(salon, settings):
    settings.SIGNALWIRE_SIGNING_KEY = ""
    assert text_in("STOP", key="").status_code == 403
