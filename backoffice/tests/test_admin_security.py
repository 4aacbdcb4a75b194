"""Admin security: owners reach only their own tenant, logins are rate-limited, and pages showing
callers' numbers are never cached."""
import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from backoffice.login_throttle import login_failures_reset_all
from backoffice.tests.factories import OPERATOR_HOST, PIZZERIA_HOST, SALON_HOST, SALON_OWNER, call_make


@pytest.fixture(autouse=True)
def _fresh_login_counters():
    login_failures_reset_all()
    yield
    login_failures_reset_all()


def log_in(client: Client, username: str, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_it_logs_the_salon_owner_into_the_salon_admin(salon):
    client = Client(HTTP_HOST=SALON_HOST)
    response = log_in(client, *SALON_OWNER)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert "Bella Hair Studio" in client.get("/admin/").content.decode()


def test_it_refuses_the_salon_owner_at_the_pizzeria_and_the_operator_admin(salon):
    for host in (PIZZERIA_HOST, OPERATOR_HOST):
        client = Client(HTTP_HOST=host)
        response = log_in(client, *SALON_OWNER)
        assert response.status_code == 200
        assert "Please enter the correct" in response.content.decode()
        assert client.get("/admin/").status_code == 302


def test_it_locks_a_username_out_after_five_failed_logins_even_with_the_right_password(salon):
    client = Client(HTTP_HOST=SALON_HOST)
    for _ in range(5):
        response = log_in(client, SALON_OWNER[0], "not-the-password")
        assert response.status_code == 200
        assert "Please enter the correct" in response.content.decode()

    response = log_in(client, *SALON_OWNER)

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "try again in 15 minutes" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_it_counts_failures_per_username(salon):
    client = Client(HTTP_HOST=SALON_HOST)
    for _ in range(5):
        log_in(client, "someone-else@salon.example", "guess")

    assert log_in(client, *SALON_OWNER).status_code == 302


def test_it_counts_failures_per_address(salon):
    attacker = Client(HTTP_HOST=SALON_HOST, REMOTE_ADDR="203.0.113.9")
    for _ in range(5):
        log_in(attacker, SALON_OWNER[0], "guess")
    assert log_in(attacker, *SALON_OWNER).status_code == 429

    owner = Client(HTTP_HOST=SALON_HOST, REMOTE_ADDR="198.51.100.20")
    assert log_in(owner, *SALON_OWNER).status_code == 302


def test_it_forgets_earlier_failures_after_a_successful_login(salon):
    client = Client(HTTP_HOST=SALON_HOST)
    for _ in range(4):
        log_in(client, SALON_OWNER[0], "typo")
    assert log_in(client, *SALON_OWNER).status_code == 302
    client.post("/admin/logout/")

    for _ in range(4):
        log_in(client, SALON_OWNER[0], "typo")
    assert log_in(client, *SALON_OWNER).status_code == 302


def test_it_rate_limits_the_operator_login_too(db):
    client = Client(HTTP_HOST=OPERATOR_HOST)
    for _ in range(5):
        log_in(client, "operator", "guess")
    response = log_in(client, "operator", "guess")
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()


def test_it_keeps_each_tenants_counters_apart(salon, pizzeria):
    salon_client = Client(HTTP_HOST=SALON_HOST)
    for _ in range(5):
        log_in(salon_client, SALON_OWNER[0], "guess")
    assert log_in(salon_client, *SALON_OWNER).status_code == 429

    # The same username at the pizzeria is a different (non-existent) account with its own counter.
    response = log_in(Client(HTTP_HOST=PIZZERIA_HOST), *SALON_OWNER)
    assert response.status_code == 200
    assert "Too many failed logins" not in response.content.decode()


def test_it_sends_pages_with_callers_numbers_with_no_store(salon_admin):
    with schema_context("salon"):
        call = call_make(started_at=timezone.now() - dt.timedelta(hours=1), caller_number="+15550142424",
                         turns=[("user", "Hi")])
        callback = call.callback_requests.create(caller_number="+15550142424", reason="Call me")

    for path in ("/admin/", "/admin/calls/call/", f"/admin/calls/call/{call.pk}/change/",
                 "/admin/calls/callbackrequest/", f"/admin/calls/callbackrequest/{callback.pk}/change/",
                 "/admin/messaging/smsmessage/", "/admin/bookings/booking/", "/admin/bookings/booking/day/",
                 "/admin/orders/order/"):
        response = salon_admin.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response.headers["Cache-Control"], path
        assert "private" in response.headers["Cache-Control"], path
    assert "+1 555-014-2424" in salon_admin.get("/admin/calls/call/").content.decode()


def test_it_sends_the_login_page_with_no_store(salon):
    response = Client(HTTP_HOST=SALON_HOST).get("/admin/login/")
    assert "no-store" in response.headers["Cache-Control"]


def test_it_still_lets_owners_in_when_the_cache_is_down(salon, monkeypatch):
    from django.core.cache import cache
    from redis.exceptions import ConnectionError as RedisConnectionError

    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    for method in ("get", "get_many", "add", "incr", "set", "delete"):
        monkeypatch.setattr(cache, method, unreachable)
    client = Client(HTTP_HOST=SALON_HOST)

    assert log_in(client, SALON_OWNER[0], "typo").status_code == 200
    assert log_in(client, *SALON_OWNER).status_code == 302


def test_front_desk_staff_take_bookings_but_cannot_change_the_agent_or_add_users(salon):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    with schema_context("salon"):
        clerk = get_user_model().objects.create_user(username="desk@salon.example", password="desk-pass-2026",
                                                     is_staff=True)
        clerk.groups.add(Group.objects.get(name="Front desk"))
    client = Client(HTTP_HOST=SALON_HOST)
    assert log_in(client, "desk@salon.example", "desk-pass-2026").status_code == 302

    assert client.get("/admin/bookings/booking/add/").status_code == 200
    assert client.get("/admin/calls/call/").status_code == 200
    assert client.get("/admin/orders/order/").status_code == 200
    assert client.get("/admin/agent/agentsettings/", follow=True).status_code == 403
    assert client.get("/admin/team/add/").status_code == 403
    assert client.get("/admin/bookings/service/add/").status_code == 403
