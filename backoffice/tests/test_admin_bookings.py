"""Bookings in the tenant admin: the list, the day view, cancelling."""
import datetime as dt
import re

import pytest
from django_tenants.utils import schema_context

from backoffice.dashboard import bookings_day_view
from backoffice.tests.factories import booking_make, call_make
from bookings.models import Booking
from tenants.hours.models import Closure
from testing.demo_tenants import NEW_YORK

THURSDAY = dt.date(2026, 3, 12)


def at(hour: int, minute: int = 0, day: dt.date = THURSDAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NEW_YORK)


def test_it_lists_bookings_in_local_time_with_the_call_they_came_from(salon_admin):
    with schema_context("salon"):
        call = call_make(started_at=at(9, 30, dt.date(2026, 3, 10)))
        booking_make(service_name="Haircut", start=at(15), customer_name="Maria Lopez", call=call)

    page = salon_admin.get("/admin/bookings/booking/?when=all").content.decode()

    assert "Thu 12 Mar 2026, 3:00 PM–3:45 PM" in page
    assert "Maria Lopez" in page and "Confirmed" in page
    assert f"/admin/calls/call/{call.pk}/change/" in page
    assert "Day view" in page


def test_it_lays_out_a_day_by_service_and_lane(salon):
    with schema_context("salon"):
        first = booking_make(service_name="Haircut", start=at(10), customer_name="Maria Lopez", lane=0)
        parallel = booking_make(service_name="Haircut", start=at(10), customer_name="Tom Becker", lane=1)
        booking_make(service_name="Colour", start=at(14), customer_name="Aisha Khan")
        booking_make(service_name="Haircut", start=at(16), customer_name="Gone", status="cancelled")
        booking_make(service_name="Haircut", start=at(10, day=THURSDAY + dt.timedelta(days=1)), customer_name="Tomorrow")

        view = bookings_day_view(day=THURSDAY, tz=NEW_YORK)

    assert view.total == 3
    assert [column.service.name for column in view.columns] == ["Blow Dry", "Colour", "Haircut"]
    assert view.opening_ranges == [(dt.time(9), dt.time(12, 30)), (dt.time(13, 30), dt.time(20))]
    assert (view.first_hour, view.last_hour) == (8, 20)
    haircut = {block.booking.pk: block for block in view.columns[2].bookings}
    # 10:00–10:45 in an 08:00–20:00 view: 2 h in, 45 min long; two lanes side by side.
    assert haircut[first.pk].top_percent == round(100 * 120 / 720, 3)
    assert haircut[first.pk].height_percent == round(100 * 45 / 720, 3)
    assert (haircut[first.pk].left_percent, haircut[first.pk].width_percent) == (0, 50)
    assert haircut[parallel.pk].left_percent == 50
    assert [booking.customer_name for booking in view.cancelled] == ["Gone"]


def test_it_shows_the_day_view_page(salon_admin):
    with schema_context("salon"):
        booking = booking_make(service_name="Colour", start=at(14), customer_name="Aisha Khan")

    page = salon_admin.get("/admin/bookings/booking/day/?date=2026-03-12").content.decode()

    assert "Bookings on Thursday 12 March 2026" in page
    assert "open 9:00 AM–12:30 PM, 1:30 PM–8:00 PM" in page
    block = re.search(r'<div class="soniq-booking-block".*?</div>', page, re.S).group(0)
    assert "Aisha Khan" in block and "2:00 PM–3:30 PM" in block
    assert f"/admin/bookings/booking/{booking.pk}/change/" in block
    assert "?date=2026-03-11" in page and "?date=2026-03-13" in page
    assert "/admin/bookings/booking/add/?date=2026-03-12" in page


def test_it_says_when_the_business_is_closed_that_day(salon_admin):
    with schema_context("salon"):
        Closure.objects.create(date=THURSDAY, reason="Staff training")
    page = salon_admin.get("/admin/bookings/booking/day/?date=2026-03-12").content.decode()
    assert "closed: Staff training" in page
    monday = salon_admin.get("/admin/bookings/booking/day/?date=2026-03-09").content.decode()
    assert re.search(r"0 bookings ·\s+closed\s+·", monday)


def test_it_cancels_bookings_with_an_action_and_frees_the_slot(salon_admin):
    with schema_context("salon"):
        booking = booking_make(service_name="Colour", start=at(14))

    response = salon_admin.post("/admin/bookings/booking/?when=all", {"action": "cancel_bookings", "_selected_action": [booking.pk],
                                                             "confirm": "yes", "reason": "Stylist ill"},
                                follow=True)

    assert "Cancelled 1 booking." in response.content.decode()
    with schema_context("salon"):
        assert Booking.objects.get(pk=booking.pk).status == "cancelled"
        # Colour has capacity 1: the slot is bookable again.
        booking_make(service_name="Colour", start=at(14))


def test_cancelling_tells_the_customers_still_to_come_by_sms(
        salon_admin, monkeypatch, django_capture_on_commit_callbacks):
    from messaging.models import SmsMessage

    monkeypatch.setattr("core.clock.now", lambda: at(12))
    with schema_context("salon"):
        earlier = booking_make(service_name="Haircut", start=at(10), customer_name="Been Already")
        later = booking_make(service_name="Colour", start=at(14, 30), customer_name="Still Coming")

    with django_capture_on_commit_callbacks(execute=True):
        salon_admin.post("/admin/bookings/booking/?when=all", {"action": "cancel_bookings", "confirm": "yes", "reason": "Ill",
                                                      "_selected_action": [earlier.pk, later.pk]})

    with schema_context("salon"):
        assert set(Booking.objects.filter(pk__in=[earlier.pk, later.pk]).values_list("status", flat=True)) == {"cancelled"}
        (sms,) = SmsMessage.objects.filter(kind=SmsMessage.Kind.BOOKING_CANCELLED)
    assert sms.booking_id == later.pk and sms.to_number == "+15550123456"
    assert sms.body == ("Bella Hair Studio: sorry, your Colour on Thu 12 Mar at 2:30 PM has been cancelled. "
                        "Call us to find a new time.")


def test_it_lets_the_owner_edit_only_a_bookings_notes(salon_admin):
    with schema_context("salon"):
        booking = booking_make(service_name="Colour", start=at(14))

    response = salon_admin.post(f"/admin/bookings/booking/{booking.pk}/change/",
                                {"notes": "Bring reference photos", "customer_name": "Someone Else", "status": "cancelled"})

    assert response.status_code == 302
    with schema_context("salon"):
        booking.refresh_from_db()
    assert (booking.notes, booking.customer_name, booking.status) == ("Bring reference photos", "Maria Lopez", "confirmed")
    # Adding is a form of its own that books through the booking service (tests below).
    assert "Book" in salon_admin.get("/admin/bookings/booking/add/").content.decode()


def add_booking(client, **fields):
    from bookings.models import Service

    with schema_context("salon"):
        haircut = Service.objects.get(name="Haircut")
    form = {"service": haircut.pk, "date": "2026-03-12", "time": "10:00", "customer_name": "Walk In",
            "customer_phone": "(212) 555-0144", "notes": "", **fields}
    return client.post("/admin/bookings/booking/add/", form)


def test_the_owner_books_a_walk_in_by_the_agents_rules_but_without_the_notice(
        salon_admin, monkeypatch, django_capture_on_commit_callbacks):
    # 09:50 on Thursday: 10:00 is inside the salon's two-hour notice, which callers must give.
    monkeypatch.setattr("core.clock.now", lambda: at(9, 50))
    assert "/admin/bookings/booking/add/" in salon_admin.get("/admin/bookings/booking/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = add_booking(salon_admin)

    assert response.status_code == 302 and response.headers["Location"] == "/admin/bookings/booking/day/?date=2026-03-12"
    day = salon_admin.get(response.headers["Location"]).content.decode()
    assert "Booked Walk In for Haircut on Thu 12 Mar at 10:00 AM." in day
    with schema_context("salon"):
        from messaging.models import SmsMessage

        booking = Booking.objects.get(customer_name="Walk In")
        assert (booking.start, booking.end, booking.status, booking.call) == (at(10), at(10, 45), "confirmed", None)
        assert booking.customer_phone == "+12125550144"
        # The same confirmation as an agent's booking (logged as skipped: no SignalWire here).
        assert SmsMessage.objects.get(booking=booking).body.startswith("Bella Hair Studio: your Haircut is booked")
    assert "Walk In" in day


@pytest.mark.parametrize(("fields", "sentence"), [
    ({"date": "2026-03-16"}, "closed"),                   # Monday, the salon's day off
    ({"time": "12:45"}, "doesn&#x27;t fit in our opening hours"),  # into the lunch break
    # Earlier today (the notice does not apply); times as a US business writes them.
    ({"time": "08:00"}, "8:00 AM on Thu 12 Mar has already passed. I can offer 10:00 AM"),
    ({"customer_phone": "12"}, "is not a valid phone number"),
])
def test_a_refused_booking_is_explained_on_the_form_and_nothing_is_saved(salon_admin, monkeypatch, fields, sentence):
    monkeypatch.setattr("core.clock.now", lambda: at(9, 50))

    response = add_booking(salon_admin, **fields)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Not booked; nothing was saved." in page and sentence in page
    with schema_context("salon"):
        assert not Booking.objects.filter(customer_name="Walk In").exists()


def test_a_full_slot_is_refused_with_other_times(salon_admin, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: at(9, 50))
    with schema_context("salon"):
        booking_make(service_name="Haircut", start=at(10), lane=0)
        booking_make(service_name="Haircut", start=at(10), lane=1)  # the salon cuts two at a time

    page = add_booking(salon_admin).content.decode()

    assert "already taken" in page and "I can offer" in page
    with schema_context("salon"):
        assert Booking.objects.filter(start=at(10)).count() == 2


def test_the_owner_exports_bookings_to_a_spreadsheet_safely(salon_admin, monkeypatch):
    import csv
    import io

    monkeypatch.setattr("core.clock.now", lambda: at(9))
    with schema_context("salon"):
        booking = booking_make(service_name="Colour", start=at(14, 30), customer_name="=HYPERLINK(\"http://x\")")

    response = salon_admin.post("/admin/bookings/booking/", {"action": "export_csv", "_selected_action": [booking.pk]})

    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="bookings-2026-03-12.csv"' in response["Content-Disposition"]
    header, row = list(csv.reader(io.StringIO(response.content.decode())))
    record = dict(zip(header, row, strict=True))
    assert (record["Start"], record["End"], record["Service"]) == ("2026-03-12 14:30", "2026-03-12 16:00", "Colour")
    # A name a spreadsheet would run as a formula is quoted; so is the +1… of a phone number.
    assert record["Customer"] == "'=HYPERLINK(\"http://x\")" and record["Phone"] == "'+15550123456"
    assert (record["Status"], record["Booked by"]) == ("Confirmed", "staff")
