import redis
import requests


def test_it_reports_database_and_redis_ok(committed_db, api_server):
    response = requests.get(f"{api_server.url}/healthz", timeout=5)
    assert response.status_code == 200
    # Without LiveKit SIP settings (tests run without them) Soniq does not manage the trunk.
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok", "sip_trunk": "off"}


def test_it_answers_on_a_tenant_domain_too(committed_db, api_server):
    response = requests.get(f"{api_server.url}/healthz", headers={"Host": "salon.localhost"}, timeout=5)
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_it_says_degraded_when_redis_is_down(committed_db, api_server, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = requests.get(f"{api_server.url}/healthz", timeout=5)
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["redis"].startswith("error")
    assert response.json()["database"] == "ok"
    redis.Redis.from_url("redis://127.0.0.1:6379/0")  # the real one is untouched
