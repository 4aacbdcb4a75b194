"""`GET /internal/tls/ask`: the edge proxy obtains certificates only for tenants' domains and the
operator hosts (docs/HOSTILE_INPUT.md, "The deployment")."""
import pytest
from django.core.cache import cache
from django.test import Client

SECRET = "the-proxys-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def proxy_secret(settings):
    settings.TLS_ASK_SECRET = SECRET
    cache.clear()


def ask(domain: str | None, *, secret: str | None = SECRET, remote_addr: str = "10.0.0.7", method: str = "get"):
    query = {} if domain is None else {"domain": domain}
    if secret is not None:
        query["secret"] = secret
    client = Client(HTTP_HOST="localhost", REMOTE_ADDR=remote_addr)
    if method == "get":
        return client.get("/internal/tls/ask", query)
    return getattr(client, method)("/internal/tls/ask?" + "&".join(f"{k}={v}" for k, v in query.items()))


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


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET[:-1], SECRET + "x"])
def test_it_tells_nobody_but_the_proxy_whether_a_name_is_a_tenant(db, secret):
    for domain in ["salon.localhost", "example.com"]:
        response = ask(domain, secret=secret)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


def test_without_a_secret_configured_only_loopback_may_ask(db, settings):
    settings.TLS_ASK_SECRET = ""
    assert ask("salon.localhost", secret=None, remote_addr="127.0.0.1").status_code == 200
    assert ask("salon.localhost", secret=None, remote_addr="::1").status_code == 200
    assert ask("salon.localhost", secret=None, remote_addr="10.0.0.7").status_code == 403
    assert ask("salon.localhost", secret="anything", remote_addr="203.0.113.9").status_code == 403


def test_it_limits_how_often_one_address_may_ask(db, settings):
    settings.TLS_ASK_RATE_PER_MINUTE = 5
    answers = [ask("example.com", secret="guess", remote_addr="203.0.113.9").status_code for _ in range(7)]
    assert answers == [403] * 5 + [429] * 2
    refused = ask("salon.localhost", remote_addr="203.0.113.9")
    assert refused.status_code == 429 and refused.json()["error"]["message"]
    assert ask("salon.localhost", remote_addr="10.0.0.8").status_code == 200  # another address is not affected


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch", "options"])
def test_it_answers_json_to_every_method(db, method):
    response = ask("salon.localhost", method=method)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"
