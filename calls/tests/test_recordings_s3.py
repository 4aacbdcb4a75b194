"""Recordings in an S3-compatible bucket (production's storage) through django-storages, against a
real S3 server: versitygw (a Go module; `scripts/dev.py` builds it into .var/gobin) on loopback, with
its POSIX backend in a temporary folder. Uploaded through the internal API, heard through the admin
(a signed URL of a few minutes), deleted through the admin and the sweep."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from django_tenants.utils import schema_context

from backoffice.tests.factories import SALON_HOST, SALON_OWNER, owner_client
from calls.models import Call, CallRecording
from calls.tasks import recordings_sweep
from calls.tests.recording_helpers import ogg_opus, post_recording
from calls.tests.test_call_log_ingestion import start_call
from core import clock
from soniq_site.settings import recordings_storage_config

ACCESS_KEY, SECRET_KEY, BUCKET = "soniq-test", "soniq-test-secret-key", "soniq-recordings"


def versitygw_binary() -> str | None:
    candidates = [os.environ.get("VERSITYGW"), shutil.which("versitygw")]
    return next((path for path in candidates if path and os.path.exists(path)), None)


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    binary = versitygw_binary()
    if binary is None:
        pytest.skip("versitygw is not installed (scripts/dev.py builds it with Go): the S3 path is not tested")
    data = tmp_path_factory.mktemp("s3")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([binary, "--access", ACCESS_KEY, "--secret", SECRET_KEY, "--port", f"127.0.0.1:{port}",
                                "posix", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          region_name="us-east-1")
    deadline = time.monotonic() + 20
    while True:
        try:
            client.create_bucket(Bucket=BUCKET)
            break
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.2)
    yield url, client
    process.terminate()
    process.wait(10)


@pytest.fixture
def bucket(s3_server, settings):
    url, client = s3_server
    settings.STORAGES = {**settings.STORAGES, "recordings": recordings_storage_config(
        root="", bucket=BUCKET, endpoint_url=url, region="us-east-1", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
        sse="AES256", signed_url_seconds=settings.RECORDINGS_SIGNED_URL_SECONDS)}
    yield url, client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])


def keys(client) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_a_recording_goes_to_the_bucket_and_is_heard_through_a_short_lived_signed_url(committed_db, api_server,
                                                                                      bucket):
    url, client = bucket
    call, token = start_call("salon")
    audio = ogg_opus(seconds=1.5)

    assert post_recording(api_server, call.pk, token, audio).status_code == 201

    (key,) = keys(client)
    assert key.startswith("recordings/salon/") and key.endswith(".ogg")
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == audio
    # Private: the object's plain URL gives nothing without a signature.
    assert fetch(f"{url}/{BUCKET}/{key}")[0] == 403

    owner = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    answer = owner.get(f"/admin/calls/call/{call.pk}/recording/")
    assert answer.status_code == 302
    signed = answer["Location"]
    assert signed.startswith(f"{url}/{BUCKET}/recordings/salon/")
    assert parse_qs(urlsplit(signed).query)["X-Amz-Expires"] == ["300"]
    assert fetch(signed) == (200, audio)
    tampered = signed.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert fetch(tampered)[0] == 403


def test_deleting_a_recording_removes_the_object_from_the_bucket(committed_db, api_server, bucket):
    _, client = bucket
    call, token = start_call("salon")
    post_recording(api_server, call.pk, token, ogg_opus(seconds=0.5))
    assert len(keys(client)) == 1

    owner = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    assert owner.post(f"/admin/calls/call/{call.pk}/recording/delete/").status_code == 302

    assert keys(client) == []
    with schema_context("salon"):
        assert not CallRecording.objects.filter(call_id=call.pk).exists()


def test_the_sweep_removes_expired_recordings_from_the_bucket(committed_db, api_server, bucket):
    _, client = bucket
    old, old_token = start_call("salon")
    kept, kept_token = start_call("salon")
    post_recording(api_server, old.pk, old_token, ogg_opus(seconds=0.5))
    post_recording(api_server, kept.pk, kept_token, ogg_opus(seconds=0.5))
    with schema_context("salon"):
        Call.objects.filter(pk=old.pk).update(started_at=clock.now() - dt.timedelta(days=31))
        kept_key = CallRecording.objects.get(call_id=kept.pk).audio.name

    assert recordings_sweep.apply().get() == {"salon": {"recordings": 1, "transcript_turns": 0}}

    assert keys(client) == [kept_key]
