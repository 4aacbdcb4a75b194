"""The login limits against password spraying and forged X-Forwarded-For headers
(docs/HOSTILE_INPUT.md, "Logins and headers")."""
import pytest
from django.test import Client, RequestFactory

from backoffice.login_throttle import client_address, login_failures_reset_all
from backoffice.tests.factories import SALON_HOST, SALON_OWNER

ATTACKER = "203.0.113.9"
OWNER = "198.51.100.20"
PROXY = "10.0.0.2"


@pytest.fixture(autouse=True)
def _fresh_login_counters():
    login_failures_reset_all()
    yield
    login_failures_reset_all()


def log_in(client: Client, username: str, password: str, **headers):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, **headers)


def test_it_refuses_an_address_that_sprays_many_usernames(salon):
    attacker = Client(HTTP_HOST=SALON_HOST, REMOTE_ADDR=ATTACKER)
    for n in range(20):
        response = log_in(attacker, f"guess{n}@salon.example", "Summer2026!")
        assert response.status_code == 200, n

    response = log_in(attacker, *SALON_OWNER)
    assert response.status_code == 429
    assert "Too many failed logins from your address" in response.content.decode()
    # The owner, at their own address, is not affected.
    assert log_in(Client(HTTP_HOST=SALON_HOST, REMOTE_ADDR=OWNER), *SALON_OWNER).status_code == 302


def test_it_keeps_counting_the_address_after_a_successful_login(salon):
    client = Client(HTTP_HOST=SALON_HOST, REMOTE_ADDR=ATTACKER)
    for n in range(19):
        log_in(client, f"guess{n}@salon.example", "guess")
    assert log_in(client, *SALON_OWNER).status_code == 302
    client.post("/admin/logout/")
    log_in(client, "one-more@salon.example", "guess")

    assert log_in(client, *SALON_OWNER).status_code == 429


def test_a_forged_forwarded_for_does_not_dodge_the_limit_without_a_trusted_proxy(salon, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    attacker = Client(HTTP_HOST=SALON_HOST, REMOTE_ADDR=ATTACKER)
    for n in range(5):
        log_in(attacker, SALON_OWNER[0], "guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")

    assert log_in(attacker, *SALON_OWNER, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_a_forged_forwarded_for_cannot_lock_the_owner_out_without_a_trusted_proxy(salon, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    attacker = Client(HTTP_HOST=SALON_HOST, REMOTE_ADDR=ATTACKER)
    for _ in range(25):
        log_in(attacker, SALON_OWNER[0], "guess", HTTP_X_FORWARDED_FOR=OWNER)

    assert log_in(Client(HTTP_HOST=SALON_HOST, REMOTE_ADDR=OWNER), *SALON_OWNER).status_code == 302


def test_behind_one_trusted_proxy_it_counts_the_address_the_proxy_saw(salon, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # Every request arrives from the proxy; the proxy appends the real client to X-Forwarded-For.
    # The attacker writes the owner's address in front of it, hoping to be counted as the owner.
    attacker = Client(HTTP_HOST=SALON_HOST, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{OWNER}, {ATTACKER}")
    for _ in range(5):
        log_in(attacker, SALON_OWNER[0], "guess")
    assert log_in(attacker, *SALON_OWNER).status_code == 429

    owner = Client(HTTP_HOST=SALON_HOST, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=OWNER)
    assert log_in(owner, *SALON_OWNER).status_code == 302


@pytest.mark.parametrize(("trusted", "forwarded_for", "expected"), [
    (0, "192.0.2.1", PROXY),
    (1, "192.0.2.1", "192.0.2.1"),
    (1, "198.51.100.1, 192.0.2.1", "192.0.2.1"),
    (2, "198.51.100.1, 192.0.2.1", "198.51.100.1"),
    (2, "192.0.2.1", PROXY),  # fewer hops than proxies: not written by them
    (1, "not-an-address", PROXY),
    (1, "", PROXY),
    (1, "2001:db8::1", "2001:db8::1"),
])
def test_it_reads_the_client_address_only_from_trusted_hops(settings, trusted, forwarded_for, expected):
    settings.TRUSTED_PROXY_COUNT = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_address(request) == expected
