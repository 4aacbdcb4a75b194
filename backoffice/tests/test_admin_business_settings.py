"""Opening hours, closures, services, booking rules, the menu and ordering rules: editable in the
tenant admin, and refused with a message when they make no sense."""
from decimal import Decimal

from django_tenants.utils import schema_context

from bookings.models import BookingPolicy, Service
from orders.models import MenuItem, OrderingPolicy
from tenants.hours.models import Closure, OpeningHours


def errors_in(response) -> str:
    assert response.status_code == 200, "the form was accepted"
    return response.content.decode()


def test_it_adds_a_second_opening_range_on_a_day(salon_admin):
    response = salon_admin.post("/admin/hours/openinghours/add/", {"weekday": "5", "opens": "16:00", "closes": "18:00"})

    assert response.status_code == 302
    with schema_context("salon"):
        assert [str(hours) for hours in OpeningHours.objects.filter(weekday=5)] == [
            "Saturday 09:00–15:00", "Saturday 16:00–18:00",
        ]


def test_it_refuses_opening_hours_that_overlap_another_range_that_day(salon_admin):
    page = errors_in(salon_admin.post("/admin/hours/openinghours/add/", {"weekday": "1", "opens": "12:00", "closes": "14:00"}))

    assert "Opening hours on Tuesday overlap: 09:00–12:30 and 12:00–14:00" in page
    with schema_context("salon"):
        assert OpeningHours.objects.filter(weekday=1).count() == 2


def test_it_refuses_opening_hours_that_close_before_they_open(salon_admin):
    page = errors_in(salon_admin.post("/admin/hours/openinghours/add/", {"weekday": "0", "opens": "17:00", "closes": "09:00"}))
    assert "Must be later than 17:00" in page


def test_it_lets_a_range_be_moved_without_overlapping_itself(salon_admin):
    with schema_context("salon"):
        saturday = OpeningHours.objects.get(weekday=5)
    response = salon_admin.post(f"/admin/hours/openinghours/{saturday.pk}/change/",
                                {"weekday": "5", "opens": "10:00", "closes": "16:00"})
    assert response.status_code == 302
    with schema_context("salon"):
        assert str(OpeningHours.objects.get(weekday=5)) == "Saturday 10:00–16:00"


def test_it_adds_a_closure_once(salon_admin):
    assert salon_admin.post("/admin/hours/closure/add/", {"date": "2026-07-04", "reason": "Independence Day"}).status_code == 302
    page = errors_in(salon_admin.post("/admin/hours/closure/add/", {"date": "2026-07-04", "reason": "again"}))
    assert "Closure with this Date already exists" in page
    with schema_context("salon"):
        assert Closure.objects.filter(date="2026-07-04").count() == 1


SERVICE = {"name": "Beard Trim", "aliases": "beard, trim beard", "description": "", "duration_minutes": "20",
           "buffer_minutes": "5", "capacity": "1", "price": "18.00", "active": "on"}


def test_it_adds_a_service_with_aliases(salon_admin):
    assert salon_admin.post("/admin/bookings/service/add/", SERVICE).status_code == 302
    with schema_context("salon"):
        service = Service.objects.get(name="Beard Trim")
    assert service.aliases == ["beard", "trim beard"]
    assert service.currency == "USD" and service.price == Decimal("18.00")


def test_it_refuses_services_that_make_no_sense(salon_admin):
    cases = {
        "name": ("haircut", "There is already a service called"),
        "duration_minutes": ("2", "A service lasts from 5 minutes"),
        "capacity": ("0", "Capacity is how many can be booked at once"),
        "price": ("-5", "A price cannot be negative"),
    }
    for field, (value, message) in cases.items():
        page = errors_in(salon_admin.post("/admin/bookings/service/add/", {**SERVICE, field: value}))
        assert message in page, field
    with schema_context("salon"):
        assert not Service.objects.filter(name="Beard Trim").exists()


def test_it_edits_the_booking_rules_and_refuses_a_tiny_slot_grid(salon_admin):
    response = salon_admin.get("/admin/bookings/bookingpolicy/")
    assert response.status_code == 302
    url = response.headers["Location"]

    assert salon_admin.post(url, {"min_notice_minutes": "60", "horizon_days": "30", "slot_interval_minutes": "30"}).status_code == 302
    page = errors_in(salon_admin.post(url, {"min_notice_minutes": "60", "horizon_days": "30", "slot_interval_minutes": "2"}))

    assert "Start times must be at least 5 minutes apart" in page
    with schema_context("salon"):
        assert BookingPolicy.objects.get().slot_interval_minutes == 30


MENU_ITEM = {"name": "Calzone", "category": "Pizza", "description": "", "aliases": "folded pizza", "price": "13.50",
             "available": "on"}


def test_it_adds_a_menu_item_and_refuses_a_duplicate_or_negative_price(pizzeria_admin):
    assert pizzeria_admin.post("/admin/orders/menuitem/add/", MENU_ITEM).status_code == 302
    assert "There is already a menu item called" in errors_in(
        pizzeria_admin.post("/admin/orders/menuitem/add/", {**MENU_ITEM, "name": "calzone"}))
    assert "A price cannot be negative" in errors_in(
        pizzeria_admin.post("/admin/orders/menuitem/add/", {**MENU_ITEM, "name": "Free Pizza", "price": "-1"}))
    with schema_context("pizzeria"):
        assert MenuItem.objects.get(name="Calzone").price == Decimal("13.50")


def test_it_marks_a_menu_item_sold_out_from_the_list(pizzeria_admin):
    with schema_context("pizzeria"):
        items = list(MenuItem.objects.order_by("category", "name"))
    data = {"form-TOTAL_FORMS": str(len(items)), "form-INITIAL_FORMS": str(len(items)), "_save": "Save"}
    for index, item in enumerate(items):
        data[f"form-{index}-id"] = str(item.pk)
        if item.available and item.name != "Diavola":
            data[f"form-{index}-available"] = "on"

    response = pizzeria_admin.post("/admin/orders/menuitem/", data)

    assert response.status_code == 302
    with schema_context("pizzeria"):
        assert not MenuItem.objects.get(name="Diavola").available
        assert MenuItem.objects.get(name="Margherita").available


def test_it_edits_the_ordering_rules(pizzeria_admin):
    url = pizzeria_admin.get("/admin/orders/orderingpolicy/").headers["Location"]
    assert pizzeria_admin.post(url, {"prep_minutes": "25", "delivery_minutes": "35", "delivery_available": "on"}).status_code == 302
    assert "Preparation time must be from 1 to 480 minutes" in errors_in(
        pizzeria_admin.post(url, {"prep_minutes": "0", "delivery_minutes": "35"}))
    with schema_context("pizzeria"):
        assert OrderingPolicy.objects.get().prep_minutes == 25
