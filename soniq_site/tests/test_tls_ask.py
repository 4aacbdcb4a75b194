"""`GET /internal/tls/ask`: the edge proxy obtains certificates only for tenants' domains and the
operator hosts (docs/HOSTILE_INPUT.md, "The deployment")."""
import pytest
from django.test import Client


def ask(domain: str | None):
    return Client(HTTP_HOST="localhost").get("/internal/tls/ask", {} if domain is None else {"domain": domain})


@pytest.mark.parametrize("domain", ["salon.localhost", "PIZZERIA.localhost", "salon.localhost.", "localhost"])
def test_it_approves_a_tenants_domain_and_the_operator_host(db, domain):
    response = ask(domain)
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize("domain", ["evil.salon.localhost", "salon.localhost.evil.example", "example.com",
                                    "salon", "*.localhost", "salon.localhost\x00", "%"])
def test_it_refuses_any_other_name(db, domain):
    response = ask(domain)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_domain"


@pytest.mark.parametrize("domain", [None, "", "   ", "a" * 255])
def test_it_refuses_a_missing_or_absurd_name_with_a_sentence(db, domain):
    response = ask(domain)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["message"]


def test_it_answers_only_on_the_public_host(salon):
    assert Client(HTTP_HOST="salon.localhost").get("/internal/tls/ask", {"domain": "salon.localhost"}).status_code == 404
