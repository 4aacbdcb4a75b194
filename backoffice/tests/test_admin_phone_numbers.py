"""Every phone number an owner types is read in the business's country and refused unless it is a
real number there (`phonenumbers.is_valid_number`), not merely one of a possible length."""
import datetime as dt

import pytest
from django_tenants.utils import schema_context

from backoffice.tests.test_admin_agent_settings import DEMO_HOURS, form_data, settings_page
from bookings.models import Booking
from notifications.models import NotificationSettings
from tenants.agent.models import AgentSettings


def next_weekday_at(hour: int) -> dt.datetime:
    day = dt.date.today() + dt.timedelta(days=1)
    while day.weekday() not in (1, 2, 3, 4):
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour, 0))


def add_booking(client, phone: str):
    start = next_weekday_at(10)
    with schema_context("salon"):
        from bookings.models import Service

        service = Service.objects.get(name="Haircut")
    return client.post("/admin/bookings/booking/add/", {
        "service": service.pk, "date": start.date().isoformat(), "time": "10:00", "customer_name": "Jo Park",
        "customer_phone": phone, "notes": ""})


@pytest.mark.parametrize("typed", ["555 0123", "(555) 010-4444", "12"])
def test_it_refuses_a_customer_number_that_is_not_a_real_number(salon_admin, typed):
    response = add_booking(salon_admin, typed)

    assert response.status_code == 200
    assert "is not a valid phone number" in response.content.decode()
    with schema_context("salon"):
        assert not Booking.objects.filter(customer_name="Jo Park").exists()


def test_it_books_a_real_number_typed_the_local_way(salon_admin):
    response = add_booking(salon_admin, "(212) 555-0142")

    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context("salon"):
        assert Booking.objects.get(customer_name="Jo Park").customer_phone == "+12125550142"


def test_it_refuses_a_transfer_number_that_is_not_a_real_number(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        before = AgentSettings.objects.get().transfer_to
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, transfer_to="555 0123")

    response = salon_admin.post(url, data)

    assert response.status_code == 200
    assert "is not a valid phone number" in response.content.decode()
    with schema_context("salon"):
        assert AgentSettings.objects.get().transfer_to == before


def test_it_refuses_a_staff_sms_number_that_is_not_a_real_number(salon_admin):
    response = salon_admin.get("/admin/notifications/notificationsettings/")
    url = response.url if response.status_code == 302 else "/admin/notifications/notificationsettings/add/"
    response = salon_admin.post(url, {"emails": "owner@salon.example", "sms_numbers": "555 0123",
                                      "events": [], "quiet_hours_start": "", "quiet_hours_end": ""})

    assert response.status_code == 200
    assert "is not a valid phone number" in response.content.decode()
    with schema_context("salon"):
        assert "+15550123" not in [number for row in NotificationSettings.objects.all() for number in row.sms_numbers]
