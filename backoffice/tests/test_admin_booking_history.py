"""What changed, in the admin: a booking's history (made by phone or staff, moved, cancelled by the
caller) and, on a call's page, the bookings that call moved or cancelled."""
import datetime as dt
import zoneinfo

from django_tenants.utils import schema_context

from backoffice.tests.factories import call_make
from bookings.voice import cancel_booking, create_booking, reschedule_booking

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
MONDAY = dt.datetime(2026, 3, 9, 10, 0, tzinfo=NEW_YORK)
PHONE = "+15550123456"


def test_a_booking_shows_how_it_was_made_moved_and_cancelled_and_the_call_lists_it(salon_admin):
    with schema_context("salon"):
        booking_call = call_make(started_at=MONDAY - dt.timedelta(days=2), caller_number=PHONE)
        booking_id = create_booking(service_name="Haircut", start="2026-03-10T10:00", customer_name="Maria Lopez",
                                    customer_phone=PHONE, call=booking_call, now=MONDAY).result["booking_id"]
        staff_booking_id = create_booking(service_name="Colour", start="2026-03-11T10:00", customer_name="Maria Lopez",
                                          customer_phone=PHONE, now=MONDAY).result["booking_id"]
        change_call = call_make(started_at=MONDAY, caller_number=PHONE)
        reschedule_booking(booking_id=booking_id, start="2026-03-10T15:00", caller_number=PHONE,
                           customer_name="Maria Lopez", call=change_call, now=MONDAY)
        cancel_booking(booking_id=staff_booking_id, caller_number=PHONE, reason="away that week",
                       customer_name="Maria Lopez", call=change_call, now=MONDAY)

    page = salon_admin.get(f"/admin/bookings/booking/{booking_id}/change/").content.decode()
    assert "Booked by phone" in page and "Moved by the caller from Tue 10 Mar, 10:00 to Tue 10 Mar, 15:00" in page
    staff_page = salon_admin.get(f"/admin/bookings/booking/{staff_booking_id}/change/").content.decode()
    assert "Booked by staff" in staff_page and "Cancelled by the caller (away that week)" in staff_page

    call_page = salon_admin.get(f"/admin/calls/call/{change_call.pk}/change/").content.decode()
    assert "Moved booking: Haircut from Tue 10 Mar, 10:00 to Tue 10 Mar, 15:00" in call_page
    assert "Cancelled booking: Colour, Wed 11 Mar, 10:00" in call_page


def test_the_owner_sets_the_change_notice_in_the_booking_rules(salon_admin):
    from bookings.models import BookingPolicy

    url = salon_admin.get("/admin/bookings/bookingpolicy/").headers["Location"]
    response = salon_admin.post(url, {"min_notice_minutes": "60", "horizon_days": "30", "slot_interval_minutes": "15",
                                      "change_notice_hours": "24"})
    assert response.status_code == 302
    with schema_context("salon"):
        assert BookingPolicy.objects.get().change_notice_hours == 24
