"""`manage.py callsim` with a caller who moves one booking and cancels another, the local
OpenAI-compatible server playing the model."""
import io

from django.core.management import call_command
from django_tenants.utils import schema_context

from testing.demo_tenants import SALON_NUMBER
from voiceworker.tests.conftest import CALLER_NUMBER, FRIDAY_NOON_NEW_YORK


def test_a_caller_moves_one_booking_and_cancels_another_in_callsim(live_api, friday_noon, fake_openai, settings,
                                                                    spool_dir):
    from bookings.models import Booking
    from bookings.voice import create_booking

    with schema_context("salon"):
        haircut, colour = (create_booking(service_name=name, start=start, customer_name="Dana Scully",
                                          customer_phone=CALLER_NUMBER, now=FRIDAY_NOON_NEW_YORK).result["booking_id"]
                           for name, start in (("Haircut", "2026-12-08T10:00"), ("Colour", "2026-12-09T10:00")))
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = fake_openai.base_url
    fake_openai.steps = [
        {"tool_calls": [("find_bookings", {"customer_phone": None, "customer_name": None})]},
        {"content": "You have a haircut on Tuesday at 10:00 and a colour on Wednesday. Move the haircut to 15:00?"},
        {"tool_calls": [("reschedule_booking", {"booking_id": haircut, "start": "2026-12-08T15:00",
                                                "customer_phone": None, "customer_name": "Dana Scully"})]},
        {"tool_calls": [("cancel_booking", {"booking_id": colour, "reason": None, "customer_phone": None,
                                            "customer_name": "Dana Scully"})]},
        {"content": "Done: the haircut is at 15:00 and the colour is cancelled.",
         "tool_calls": [("end_call", {"outcome": "answered", "reason": "Moved and cancelled"})]},
    ]
    out = io.StringIO()
    call_command("callsim", SALON_NUMBER, caller=CALLER_NUMBER,
                 stdin=io.StringIO("What bookings do I have?\nYes, move it, and cancel the colour.\n"), stdout=out)

    shown = out.getvalue()
    assert "[tool] find_bookings(" in shown and f"(booking {haircut})" in shown
    assert f'[tool] reschedule_booking({{"booking_id": {haircut}, "start": "2026-12-08T15:00"' in shown
    assert "Done: your booking is moved to a Haircut on Tuesday 8 December at three p.m." in shown
    assert "Done: your booking for a Colour" in shown
    with schema_context("salon"):
        assert Booking.objects.get(pk=haircut).start.isoformat() == "2026-12-08T20:00:00+00:00"
        assert Booking.objects.get(pk=colour).status == Booking.Status.CANCELLED
