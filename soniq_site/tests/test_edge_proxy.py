"""deploy/Caddyfile with the real Caddy (Debian's package) on loopback, in front of a real gunicorn
serving the test database (docs/HOSTILE_INPUT.md, "The deployment"):

- 20 slow clients, each declaring a 100,000-byte body and sending 10 bytes, do not delay /healthz
  beyond 1 s through the proxy; sent straight to the same gunicorn (1 worker, 2 threads) they do,
  which shows the test measures the proxy and not a roomy server;
- the on-demand TLS "ask" endpoint is not reachable through the proxy; reached directly it answers
  only the proxy's secret, approving a tenant's domain and refusing any other;
- behind Caddy with TRUSTED_PROXY_COUNT=1, a forged X-Forwarded-For does not dodge the login limit;
- on-demand TLS itself, with Caddy's internal CA standing in for ACME (no internet here): a TLS
  handshake for a tenant's domain gets a certificate for that name (Caddy asked the platform) and
  reaches the tenant's admin; a handshake for any other name is refused.

Skips with the reason when the `caddy` binary is absent (`make test` installs it where it can).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings

from backoffice.login_throttle import login_failures_reset_all
from testing.celery_worker import database_url_for_test_db

ROOT = Path(settings.BASE_DIR)
CADDYFILE = ROOT / "deploy" / "Caddyfile"
SLOW_CLIENTS = 20
DECLARED_BYTES = 100_000
SENT_BYTES = 10
TLS_ASK_SECRET = "edge-proxy-test-secret_0123456789"


def free_port_pick() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_wait(port: int, *, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port}")


def caddy_binary() -> str:
    binary = shutil.which("caddy")
    if binary is None:
        pytest.skip("Caddy is not installed: `apt-get install -y caddy` (Debian's package; `make test` installs it "
                    "when it runs as root) to test deploy/Caddyfile.")
    return binary


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="module")
def gunicorn(django_db_setup) -> Iterator[str]:
    """The app as production runs it, but small: one worker with two threads, easy to starve."""
    port = free_port_pick()
    env = {**os.environ, "DATABASE_URL": database_url_for_test_db(), "REDIS_URL": settings.REDIS_URL, "DEBUG": "1",
           "INTERNAL_API_TOKEN": "test-internal-token", "DJANGO_SETTINGS_MODULE": "soniq_site.settings",
           "TRUSTED_PROXY_COUNT": "1", "TLS_ASK_SECRET": TLS_ASK_SECRET}  # as compose runs it behind Caddy
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "soniq_site.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "2", "--worker-class", "gthread", "--timeout", "60", "--graceful-timeout", "2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_wait(port, timeout=30, process=process)
        # The first request loads the app (seconds on a busy machine): not what the tests time.
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=60).status_code == 200
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)


def caddy_run(*, home: Path, port: int, gunicorn: str, **variables: str) -> subprocess.Popen:
    """deploy/Caddyfile, unchanged, with the test's environment; its state stays in `home`."""
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
           "SONIQ_UPSTREAM": gunicorn, "SONIQ_TLS_ASK_URL": f"http://{gunicorn}/internal/tls/ask",
           "SONIQ_TLS_ASK_SECRET": TLS_ASK_SECRET, **variables}
    process = subprocess.Popen([caddy_binary(), "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
                               cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port_wait(port, timeout=15, process=process)
    except RuntimeError:
        stop(process)
        pytest.fail(f"Caddy did not start with deploy/Caddyfile: {process.stderr.read().decode()[-2000:]}")
    return process


@pytest.fixture(scope="module")
def caddy(gunicorn, tmp_path_factory) -> Iterator[str]:
    caddy_binary()
    port = free_port_pick()
    process = caddy_run(home=tmp_path_factory.mktemp("caddy"), port=port, gunicorn=gunicorn,
                        SONIQ_SITE_ADDRESS=f"http://127.0.0.1:{port}", SONIQ_TLS="off")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture(scope="module")
def caddy_tls(gunicorn, tmp_path_factory) -> Iterator[tuple[int, Path]]:
    """Caddy with on-demand TLS from its internal CA, on loopback; yields the port and the CA's root."""
    caddy_binary()
    port, http_port = free_port_pick(), free_port_pick()
    home = tmp_path_factory.mktemp("caddy-tls")
    process = caddy_run(home=home, port=port, gunicorn=gunicorn, SONIQ_SITE_ADDRESS=f"https://:{port}",
                        SONIQ_TLS="internal_on_demand", SONIQ_BIND="loopback", SONIQ_HTTP_PORT=str(http_port))
    try:
        yield port, home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    finally:
        stop(process)


def tls_get(port: int, root_certificate: Path, hostname: str, path: str) -> str:
    """GET over TLS to loopback with `hostname` as SNI and Host, verifying the certificate is for it."""
    context = ssl.create_default_context(cafile=str(root_certificate))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=hostname) as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n".encode())
            chunks = []
            while chunk := tls.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def slow_clients(address: str) -> list[socket.socket]:
    host, port = address.rsplit(":", 1)
    clients = []
    for _ in range(SLOW_CLIENTS):
        client = socket.create_connection((host, int(port)), timeout=5)
        client.sendall((f"POST /internal/calls/start HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                        f"Authorization: Bearer test-internal-token\r\nContent-Length: {DECLARED_BYTES}\r\n\r\n").encode()
                       + b'{"called":'[:SENT_BYTES])
        clients.append(client)
    time.sleep(0.5)  # let the server take them in
    return clients


def healthz_seconds(address: str) -> float:
    started = time.monotonic()
    try:
        response = requests.get(f"http://{address}/healthz", timeout=3)
    except requests.Timeout:
        return float("inf")
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_slow_clients_do_not_delay_healthz_through_the_proxy(caddy):
    clients = slow_clients(caddy)
    try:
        assert healthz_seconds(caddy) < 1.0
    finally:
        for client in clients:
            client.close()


def test_the_same_slow_clients_sent_straight_to_gunicorn_stall_it(gunicorn, caddy):
    # The control: without the proxy the test's gunicorn is starved, so the test above measures Caddy.
    clients = slow_clients(gunicorn)
    try:
        assert healthz_seconds(gunicorn) > 1.0
    finally:
        for client in clients:
            client.close()
    time.sleep(0.5)
    assert healthz_seconds(gunicorn) < 1.0  # and it recovers once they leave


@pytest.mark.parametrize("domain", ["salon.localhost", "evil.salon.localhost", "example.com"])
def test_the_ask_endpoint_is_not_reachable_through_the_proxy(caddy, domain):
    # Not even with the secret: which names are tenants is the proxy's own question.
    response = requests.get(f"http://{caddy}/internal/tls/ask", params={"domain": domain, "secret": TLS_ASK_SECRET},
                            timeout=5)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("secret", "domain", "status"), [
    (TLS_ASK_SECRET, "salon.localhost", 200), (TLS_ASK_SECRET, "evil.salon.localhost", 404),
    ("", "salon.localhost", 403), ("guess", "salon.localhost", 403), ("", "example.com", 403),
])
def test_the_ask_endpoint_answers_only_the_secret_the_proxy_holds(gunicorn, secret, domain, status):
    response = requests.get(f"http://{gunicorn}/internal/tls/ask", params={"domain": domain, "secret": secret}, timeout=5)
    assert response.status_code == status, response.text


def test_on_demand_tls_issues_a_certificate_for_a_tenants_domain_only(caddy_tls):
    port, root_certificate = caddy_tls
    deadline = time.monotonic() + 10
    while not root_certificate.exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # Caddy creates its CA right after it starts listening

    response = tls_get(port, root_certificate, "salon.localhost", "/admin/login/")
    assert response.startswith("HTTP/1.1 200"), response[:300]
    assert "Bella Hair Studio" in response

    for hostname in ("evil.salon.localhost", "attacker.example"):
        with pytest.raises(ssl.SSLError):
            tls_get(port, root_certificate, hostname, "/healthz")


def test_a_forged_forwarded_for_through_the_proxy_does_not_dodge_the_login_limit(caddy):
    login_failures_reset_all()
    session = requests.Session()
    login = f"http://{caddy}/admin/login/"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(login, timeout=10).text).group(1)

    def attempt(forged: str) -> int:
        return session.post(login, data={"username": "operator", "password": "guess", "csrfmiddlewaretoken": token},
                            headers={"X-Forwarded-For": forged}, timeout=10).status_code

    try:
        assert [attempt(f"192.0.2.{n}") for n in range(5)] == [200] * 5
        assert attempt("192.0.2.99") == 429
    finally:
        login_failures_reset_all()
