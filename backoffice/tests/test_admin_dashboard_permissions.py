"""The home page and the bookings day view show only what the user may read (issue 29, item 7): a
staff user in no group sees neither callers, summaries nor customers, as the lists behind them
already refuse them."""
import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django_tenants.utils import schema_context

from backoffice.tests.factories import SALON_HOST, booking_make, call_make
from calls.summaries.models import CallSummary
from core import clock
from testing.demo_tenants import NEW_YORK

CALLER = "+15550199876"
CUSTOMER = ("Quentin Quarrelsome", "+15550177654")
SUMMARY = "Quentin wants his refund for the botched perm."


@pytest.fixture
def salon_activity(salon):
    with schema_context("salon"):
        now = clock.now()
        call = call_make(started_at=now - dt.timedelta(minutes=30), caller_number=CALLER)
        CallSummary.objects.create(call=call, status="done", summary=SUMMARY, intent="complaint", follow_up_needed=True)
        booking = booking_make(service_name="Haircut", customer_name=CUSTOMER[0],
                               start=now.astimezone(NEW_YORK).replace(hour=15, minute=0, second=0, microsecond=0))
        booking.customer_phone = CUSTOMER[1]
        booking.save()


def staff_client(username: str, *, permissions: list[str] = (), group: str | None = None) -> Client:
    with schema_context("salon"):
        user = get_user_model().objects.create_user(username=username, password="staff-pass-2026", is_staff=True)
        for codename in permissions:
            app_label, codename = codename.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        if group:
            user.groups.add(Group.objects.get(name=group))
        client = Client(HTTP_HOST=SALON_HOST)
        client.force_login(user)
    return client


def shows_private_data(html: str) -> list[str]:
    return [text for text in ["(555) 019-9876", CALLER, SUMMARY[:40], CUSTOMER[0], "(555) 017-7654"] if text in html]


def test_a_staff_user_in_no_group_sees_no_calls_callers_or_summaries_on_the_home_page(salon_activity):
    client = staff_client("nobody@salon.example")
    home = client.get("/admin/")
    assert home.status_code == 200
    assert shows_private_data(home.content.decode()) == []
    assert 'data-testid="recent-calls"' not in home.content.decode()
    assert client.get("/admin/calls/call/").status_code == 403  # as the list behind it


def test_a_staff_user_in_no_group_gets_403_from_the_day_view(salon_activity):
    client = staff_client("nobody@salon.example")
    day = client.get("/admin/bookings/booking/day/")
    assert day.status_code == 403
    assert shows_private_data(day.content.decode()) == []


def test_the_home_page_shows_each_panel_only_with_its_permission(salon_activity):
    client = staff_client("calls-only@salon.example", permissions=["calls.view_call"])
    html = client.get("/admin/").content.decode()
    assert SUMMARY[:40] in html and 'data-testid="card-calls"' in html
    assert 'data-testid="card-bookings"' not in html and 'data-testid="card-callbacks"' not in html
    assert client.get("/admin/bookings/booking/day/").status_code == 403


def test_front_desk_staff_still_see_the_whole_home_page_and_the_day_view(salon_activity):
    client = staff_client("desk@salon.example", group="Front desk")
    html = client.get("/admin/").content.decode()
    assert SUMMARY[:40] in html and 'data-testid="card-bookings"' in html and 'data-testid="card-callbacks"' in html
    day = client.get("/admin/bookings/booking/day/")
    assert day.status_code == 200 and CUSTOMER[0] in day.content.decode()
