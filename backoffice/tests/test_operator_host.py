"""The operator admin answers only on OPERATOR_HOSTS (docs/HOSTILE_INPUT.md, "Logins and headers");
other non-tenant hosts still reach the internal API and /healthz, and hosts are case-insensitive."""
import pytest
from django.test import Client

from backoffice.tests.factories import OPERATOR_HOST, SALON_HOST, SALON_OWNER


@pytest.mark.parametrize("host", ["evil.salon.localhost", "typo.localhost", "127.0.0.1.localhost", "[::1]"])
def test_it_shows_no_operator_login_on_other_hosts(db, host):
    client = Client(HTTP_HOST=host)
    assert client.get("/healthz").status_code == 200  # an allowed host, on the public URLs
    for path in ("/admin/", "/admin/login/", "/admin/tenants/tenant/"):
        response = client.get(path)
        assert response.status_code == 404, (host, path)
        assert b"Soniq operator" not in response.content


def test_it_still_serves_health_and_the_internal_api_on_other_hosts(db):
    client = Client(HTTP_HOST="voice-worker-sees-this.localhost")
    assert client.get("/healthz").status_code == 200
    assert client.post("/internal/calls/start", {}, content_type="application/json").status_code == 401


def test_it_shows_the_operator_login_on_the_operator_host(db):
    response = Client(HTTP_HOST=OPERATOR_HOST).get("/admin/login/")
    assert response.status_code == 200
    assert b"Soniq operator" in response.content


def test_it_serves_the_operator_admin_only_on_the_configured_host(db, settings):
    settings.OPERATOR_HOSTS = ["ops.localhost"]
    assert Client(HTTP_HOST="ops.localhost").get("/admin/login/").status_code == 200
    assert Client(HTTP_HOST="OPS.LOCALHOST:8000").get("/admin/login/").status_code == 200
    assert Client(HTTP_HOST="localhost").get("/admin/login/").status_code == 404


def test_an_upper_case_tenant_host_is_the_tenant_not_the_operator(salon):
    client = Client(HTTP_HOST=SALON_HOST.upper())
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b"Bella Hair Studio" in response.content and b"Soniq operator" not in response.content
    response = client.post("/admin/login/?next=/admin/", {"username": SALON_OWNER[0], "password": SALON_OWNER[1]})
    assert response.status_code == 302
