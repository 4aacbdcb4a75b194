"""Tenants never see each other's data, and an owner's login exists only at their own domain."""
from django.utils import timezone
from django_tenants.utils import schema_context

from calls.models import Call, CallbackRequest


def test_rows_written_in_one_tenant_are_invisible_from_another(salon, pizzeria):
    with schema_context("salon"):
        Call.objects.create(called_number="+15550100001", caller_number="+15550123456", started_at=timezone.now())
        CallbackRequest.objects.create(caller_number="+15550123456", reason="Wants a colour consultation")
        assert Call.objects.count() == 1

    with schema_context("pizzeria"):
        assert Call.objects.count() == 0
        assert CallbackRequest.objects.count() == 0


def test_each_tenant_has_its_own_owner_account(salon, pizzeria):
    from django.contrib.auth import get_user_model

    with schema_context("salon"):
        assert list(get_user_model().objects.values_list("username", flat=True)) == ["owner@salon.example"]
    with schema_context("pizzeria"):
        assert list(get_user_model().objects.values_list("username", flat=True)) == ["owner@pizzeria.example"]


def log_in(client, host, username, password):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, HTTP_HOST=host)


def test_the_salon_owner_logs_into_the_salon_admin(committed_db, client):
    response = log_in(client, "salon.localhost", "owner@salon.example", "salon-demo-2026")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/", HTTP_HOST="salon.localhost").status_code == 200


def test_the_salon_owner_cannot_log_into_the_pizzeria_admin(committed_db, client):
    response = log_in(client, "pizzeria.localhost", "owner@salon.example", "salon-demo-2026")
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert client.get("/admin/", HTTP_HOST="pizzeria.localhost").status_code == 302


def test_a_salon_session_cookie_does_not_open_the_pizzeria_admin(committed_db, client):
    log_in(client, "salon.localhost", "owner@salon.example", "salon-demo-2026")
    response = client.get("/admin/", HTTP_HOST="pizzeria.localhost")
    assert response.status_code == 302
    assert "/admin/login/" in response.headers["Location"]


def test_a_tenant_owner_cannot_log_into_the_operator_admin(committed_db, client):
    response = log_in(client, "localhost", "owner@salon.example", "salon-demo-2026")
    assert response.status_code == 200
    assert client.get("/admin/", HTTP_HOST="localhost").status_code == 302
