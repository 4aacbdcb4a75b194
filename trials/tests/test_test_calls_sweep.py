"""The periodic sweep (Celery beat) that removes what a test call left behind when its log never
came: the calls sweep closes such a call as abandoned, this one frees the slot its booking holds."""
import datetime as dt

from django_tenants.utils import schema_context

from backoffice.tests.factories import booking_make, call_make
from bookings.models import Booking
from calls.models import Call, CallbackRequest
from testing.demo_tenants import NEW_YORK
from trials import tasks

MORNING = dt.datetime(2026, 3, 12, 9, 5, tzinfo=NEW_YORK)


def test_it_removes_what_abandoned_test_calls_left_and_nothing_else(salon):
    with schema_context("salon"):
        abandoned = call_make(started_at=MORNING, outcome=Call.Outcome.ABANDONED, is_test=True)
        live = call_make(started_at=MORNING, duration_seconds=None, is_test=True)
        real = call_make(started_at=MORNING, outcome=Call.Outcome.ABANDONED)
        for hour, call in ((14, abandoned), (15, live), (16, real)):
            booking_make(service_name="Haircut", start=dt.datetime(2026, 3, 13, hour, 0, tzinfo=NEW_YORK), call=call)
        CallbackRequest.objects.create(call=abandoned, caller_number="+15550123456", reason="Test")

    swept = tasks.trial_calls_sweep_all.apply().get()

    assert swept == {"salon": 1}
    with schema_context("salon"):
        assert not Booking.objects.filter(call=abandoned).exists()
        assert not CallbackRequest.objects.filter(call=abandoned).exists()
        assert Booking.objects.filter(call=live).exists()  # still on the phone: its booking stays for now
        assert Booking.objects.filter(call=real).exists()
        assert Call.objects.filter(pk=abandoned.pk).exists()  # the call itself stays, marked test
