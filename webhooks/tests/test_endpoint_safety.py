"""Where a webhook may be sent in production: https only, public addresses only, checked at
delivery time."""
from __future__ import annotations

import socket

import pytest

from webhooks.delivery import UnsafeEndpoint, endpoint_target


@pytest.fixture(autouse=True)
def production(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/hook", "https://192.168.0.10/hook",
    "https://172.16.5.4/hook", "https://169.254.169.254/latest/meta-data", "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook", "https://0.0.0.0/hook", "https://100.64.0.1/hook",
    # Issue 29, item 8: blocks Python's is_global lets through, and IPv6 forms that embed IPv4.
    "https://192.0.0.1/hook", "https://192.0.0.170/hook", "https://[2002:7f00:1::]/hook",
    "https://[2002:a9fe:a9fe::1]/hook", "https://[64:ff9b::7f00:1]/hook", "https://[64:ff9b:1::a00:1]/hook",
    "https://[2001::1]/hook", "https://[2001:db8::1]/hook", "https://[100::1]/hook", "https://[fc00::1]/hook",
    "https://[fe80::1]/hook", "https://[::]/hook", "https://[::127.0.0.1]/hook", "https://192.88.99.1/hook",
    "https://198.18.0.1/hook", "https://240.0.0.1/hook", "https://224.0.0.1/hook", "https://192.0.2.1/hook",
    "https://[3fff::1]/hook", "https://[5f00::1]/hook", "https://192.0.0.9/hook", "https://192.0.0.10/hook",
    "https://192.31.196.1/hook", "https://192.175.48.1/hook", "https://[2620:4f:8000::1]/hook",
])
def test_it_refuses_loopback_private_and_link_local_addresses(url):
    with pytest.raises(UnsafeEndpoint):
        endpoint_target(url)


def test_it_refuses_plain_http():
    with pytest.raises(UnsafeEndpoint, match="https"):
        endpoint_target("http://93.184.216.34/hook")


def test_it_allows_a_public_https_address():
    assert endpoint_target("https://93.184.216.34:8443/hook?x=1") == ("https", "93.184.216.34", 8443, "/hook?x=1", "93.184.216.34")


def test_development_may_allow_loopback_and_http(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    assert endpoint_target("http://127.0.0.1:9000/hook")[4] == "127.0.0.1"


@pytest.mark.parametrize("url", ["https://user:secret@93.184.216.34/hook", "https://token@93.184.216.34/hook",
                                 "https://:pw@93.184.216.34/hook"])
def test_it_refuses_a_url_with_a_user_name_or_password(url):
    with pytest.raises(UnsafeEndpoint, match="user name or password"):
        endpoint_target(url)


def test_the_error_does_not_say_which_address_a_name_resolved_to(monkeypatch):
    # What an internal DNS would answer for an internal name (no DNS query leaves this machine).
    answer = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answer)
    with pytest.raises(UnsafeEndpoint) as refused:
        endpoint_target("https://vault.corp.example/hook")
    assert "10.20.30.40" not in str(refused.value)
    assert "vault.corp.example" in str(refused.value)


def test_a_refused_endpoint_is_recorded_on_the_delivery(db, salon, settings):
    from django_tenants.utils import tenant_context

    from webhooks.delivery import webhook_attempt
    from webhooks.models import WebhookDelivery, WebhookEndpoint
    from webhooks.services import webhook_event_record

    settings.WEBHOOK_RETRY_SCHEDULE = []
    with tenant_context(salon):
        WebhookEndpoint.objects.create(url="https://169.254.169.254/latest")
        [delivery] = webhook_event_record(event_type="order.created", event_key="order:1:created", data={})
        webhook_attempt(delivery_id=delivery.pk)
        delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.status == "failed" and "not a public internet address" in delivery.last_error


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS receiver on loopback whose certificate (self-signed, for `hooks.test`) the test trusts."""
    import datetime as dt
    import http.server
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.test")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002
            pass

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert_file, seen
    server.shutdown()
    server.server_close()


def test_it_posts_over_tls_to_the_checked_address_and_verifies_the_host_name(tls_receiver, monkeypatch, settings):
    import ssl

    from webhooks import delivery

    port, cert_file, seen = tls_receiver
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs: real_getaddrinfo(
        "127.0.0.1" if host.endswith(".test") else host, *args, **kwargs))
    real_context = ssl.create_default_context
    # Trust the receiver's certificate, as a public CA's would be trusted.
    monkeypatch.setattr(ssl, "create_default_context", lambda *args, **kwargs: real_context(cafile=str(cert_file)))

    assert delivery._post(url=f"https://hooks.test:{port}/hook", body=b"{}", headers={}) == (200, "ok")
    assert seen == [f"hooks.test:{port}"]
    with pytest.raises(delivery.WebhookTransientError, match="certificate verify failed"):
        delivery._post(url=f"https://other.test:{port}/hook", body=b"{}", headers={})
