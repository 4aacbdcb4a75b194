"""The call page's recording: who hears it, how it is served, and "Delete recording"."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django_tenants.utils import schema_context

from backoffice.tests.factories import PIZZERIA_HOST, SALON_HOST, call_make
from calls.models import CallRecording, TranscriptTurn
from calls.recordings import recording_store
from calls.tests.recording_helpers import filesystem_storage, ogg_opus
from core import clock


@pytest.fixture
def storage(settings, tmp_path) -> Path:
    filesystem_storage(settings, tmp_path / "recordings")
    return tmp_path / "recordings"


@pytest.fixture
def recorded_call(salon, storage):
    audio = ogg_opus(seconds=3.0)
    with schema_context("salon"):
        call = call_make(started_at=clock.now() - dt.timedelta(minutes=5), duration_seconds="3.4",
                         turns=[("assistant", "This call is recorded. Bella Hair Studio, how can I help?"),
                                ("user", "A haircut on Friday, please.")])
        recording, _ = recording_store(call=call, audio=audio, started_offset_seconds=0.2)
    return call, recording, audio


def front_desk_client(*, can_listen: bool = True) -> Client:
    with schema_context("salon"):
        clerk = get_user_model().objects.create_user(username="desk@salon.example", password="desk-pass-2026",
                                                     is_staff=True)
        group = Group.objects.get(name="Front desk")
        if not can_listen:
            # What the owner does in Groups: take the permission away from the front desk.
            group.permissions.remove(Permission.objects.get(codename="listen_callrecording"))
        clerk.groups.add(group)
        client = Client(HTTP_HOST=SALON_HOST)
        client.force_login(clerk)
    return client


def page_of(client: Client, call) -> str:
    response = client.get(f"/admin/calls/call/{call.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def audio_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_owner_hears_the_recording_beside_the_transcript(salon_admin, recorded_call):
    call, recording, audio = recorded_call

    page = page_of(salon_admin, call)
    response = salon_admin.get(f"/admin/calls/call/{call.pk}/recording/")

    assert 'data-testid="recording-player"' in page and 'data-offset="0.20"' in page
    assert f'src="/admin/calls/call/{call.pk}/recording/"' in page
    assert 'data-at="0.00"' in page and 'data-at="4.00"' in page  # the turns seek to their moments
    assert "Delete recording" in page
    assert response.status_code == 200 and response["Content-Type"] == "audio/ogg"
    assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    assert audio_of(response) == audio


def test_the_player_gets_the_byte_ranges_it_seeks_with(salon_admin, recorded_call):
    call, _, audio = recorded_call

    middle = salon_admin.get(f"/admin/calls/call/{call.pk}/recording/", HTTP_RANGE="bytes=100-199")
    tail = salon_admin.get(f"/admin/calls/call/{call.pk}/recording/", HTTP_RANGE="bytes=-50")
    beyond = salon_admin.get(f"/admin/calls/call/{call.pk}/recording/", HTTP_RANGE=f"bytes={len(audio)}-")

    assert (middle.status_code, middle["Content-Range"], middle.content) == (
        206, f"bytes 100-199/{len(audio)}", audio[100:200])
    assert (tail.status_code, tail.content) == (206, audio[-50:])
    assert beyond.status_code == 416


def test_front_desk_staff_listen_by_default(recorded_call):
    call, _, audio = recorded_call
    client = front_desk_client()

    page = page_of(client, call)

    assert 'data-testid="recording-player"' in page
    assert audio_of(client.get(f"/admin/calls/call/{call.pk}/recording/")) == audio
    assert "Delete recording" not in page  # deleting is the owner's


def test_staff_the_owner_took_listening_from_get_no_audio(recorded_call):
    call, _, _ = recorded_call
    client = front_desk_client(can_listen=False)

    page = page_of(client, call)

    assert "recording-player" not in page and f"/admin/calls/call/{call.pk}/recording/" not in page
    assert "Listening to recordings needs the owner's permission." in page
    assert client.get(f"/admin/calls/call/{call.pk}/recording/").status_code == 403
    # The transcript is still theirs to read.
    assert "A haircut on Friday, please." in page


def test_another_businesss_user_gets_404(pizzeria_admin, recorded_call):
    call, _, _ = recorded_call

    assert pizzeria_admin.get(f"/admin/calls/call/{call.pk}/recording/").status_code == 404
    # The same URL on the salon's host without a salon session is the login page, not the audio.
    anonymous = Client(HTTP_HOST=SALON_HOST).get(f"/admin/calls/call/{call.pk}/recording/")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    assert Client(HTTP_HOST=PIZZERIA_HOST).get(f"/admin/calls/call/{call.pk}/recording/").status_code == 302


def test_delete_recording_removes_the_audio_from_storage_and_keeps_the_transcript(salon_admin, recorded_call, storage):
    call, recording, _ = recorded_call
    stored = Path(recording.audio.path)
    assert stored.exists()

    response = salon_admin.post(f"/admin/calls/call/{call.pk}/recording/delete/", follow=True)

    assert response.status_code == 200
    assert "The recording was deleted. The transcript is kept." in response.content.decode()
    assert not stored.exists() and not any(path.is_file() for path in storage.rglob("*"))
    with schema_context("salon"):
        assert not CallRecording.objects.filter(call=call).exists()
        assert TranscriptTurn.objects.filter(call=call).count() == 2
    assert salon_admin.get(f"/admin/calls/call/{call.pk}/recording/").status_code == 404


def test_front_desk_staff_cannot_delete_a_recording(recorded_call):
    call, recording, _ = recorded_call
    client = front_desk_client()

    assert client.post(f"/admin/calls/call/{call.pk}/recording/delete/").status_code == 403
    assert Path(recording.audio.path).exists()


def test_the_owner_sets_recording_in_the_agent_settings(salon_admin):
    page = salon_admin.get("/admin/agent/agentsettings/", follow=True).content.decode()

    assert "Call recordings" in page
    for field in ("record_calls", "recording_disclosure", "recording_retention_days",
                  "recording_retention_deletes_transcript"):
        assert f'name="{field}"' in page
    assert 'name="recording_retention_days" value="30"' in page
