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
from pathlib import Path
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


class VersityGw:
    """versitygw on a loopback port, over a folder that outlives a restart."""

    def __init__(self, binary: str, data: Path):
        self.binary, self.data = binary, data
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = boto3.client("s3", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY,
                                   aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--access", ACCESS_KEY, "--secret", SECRET_KEY, "--port", f"127.0.0.1:{self.port}",
             "posix", str(self.data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                if BUCKET not in [bucket["Name"] for bucket in self.client.list_buckets()["Buckets"]]:
                    self.client.create_bucket(Bucket=BUCKET)
                return
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    binary = versitygw_binary()
    if binary is None:
        pytest.skip("versitygw is not installed (scripts/dev.py builds it with Go): the S3 path is not tested")
    server = VersityGw(binary, tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


def use_bucket(settings, url: str) -> None:
    settings.STORAGES = {**settings.STORAGES, "recordings": recordings_storage_config(
        root="", bucket=BUCKET, endpoint_url=url, region="us-east-1", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
        sse="AES256", signed_url_seconds=settings.RECORDINGS_SIGNED_URL_SECONDS)}


@pytest.fixture
def bucket(s3_server, settings):
    use_bucket(settings, s3_server.url)
    client = s3_server.client
    yield s3_server.url, client
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


def test_storage_down_during_the_upload_the_recording_arrives_once_it_is_back(committed_db, api_server, settings,
                                                                             tmp_path, s3_server):
    """The bucket is unreachable when the worker uploads: the API answers 503 storage_unavailable,
    the worker keeps the recording in its spool, and a worker started later delivers it."""
    import asyncio

    from voiceworker.recordings import RecordingUploader

    server = VersityGw(s3_server.binary, tmp_path / "s3")
    server.start()
    use_bucket(settings, server.url)
    call, token = start_call("salon")
    audio = ogg_opus(seconds=1.0)
    source = tmp_path / "call.ogg"
    source.write_bytes(audio)
    spool = tmp_path / "spool"
    try:
        server.stop()
        down = post_recording(api_server, call.pk, token, audio)
        assert (down.status_code, down.json()["error"]["code"]) == (503, "storage_unavailable")
        uploader = RecordingUploader(api_url=api_server.url, spool_dir=spool)
        entry = uploader.spool(call_id=str(call.pk), call_token=token, audio=source, offset_seconds=0.2, muted=[])
        assert asyncio.run(uploader.deliver(entry=entry)) is False
        assert recording_of_call(call) is None

        server.start()
        restarted = RecordingUploader(api_url=api_server.url, spool_dir=spool)
        assert asyncio.run(restarted.resend_spooled()) == 1
        (key,) = [item["Key"] for item in server.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        assert server.client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == audio
        assert recording_of_call(call).audio.name == key
        assert restarted.spooled() == []
    finally:
        server.stop()


def recording_of_call(call) -> CallRecording | None:
    with schema_context("salon"):
        return CallRecording.objects.filter(call_id=call.pk).first()
