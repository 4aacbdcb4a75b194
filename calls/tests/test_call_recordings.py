"""POST /internal/calls/<call_id>/recording, the retention sweep, and card numbers in stored logs:
through the real HTTP API, the Celery task and a real Celery worker."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from django_tenants.utils import schema_context

from calls.models import Call, CallRecording, ToolInvocation, TranscriptTurn
from calls.tasks import recordings_sweep
from calls.tests.recording_helpers import filesystem_storage, ogg_opus, post_recording
from calls.tests.test_call_log_ingestion import a_log, post_log, start_call, stored_call, turns_of, wait_until
from core import clock
from tenants.agent.models import AgentSettings


@pytest.fixture
def storage(settings, tmp_path) -> Path:
    filesystem_storage(settings, tmp_path / "recordings")
    return tmp_path / "recordings"


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def recording_of(schema: str, call_id) -> CallRecording | None:
    with schema_context(schema):
        return CallRecording.objects.filter(call_id=call_id).first()


def test_it_stores_the_recording_once_in_the_tenants_folder(committed_db, api_server, storage):
    call, token = start_call("salon")
    audio = ogg_opus(seconds=2.0)

    first = post_recording(api_server, call.pk, token, audio, offset=0.31,
                           muted=json.dumps([[1, 0.5, 1.0]]))
    again = post_recording(api_server, call.pk, token, audio)
    different = post_recording(api_server, call.pk, token, ogg_opus(seconds=1.0, frequency=300))

    assert (first.status_code, first.json()["status"]) == (201, "stored")
    assert (again.status_code, again.json()["status"]) == (200, "already_stored")
    assert different.status_code == 409 and different.json()["error"]["code"] == "recording_already_received"
    recording = recording_of("salon", call.pk)
    (path,) = stored_files(storage)
    assert path.read_bytes() == audio
    # The tenant's folder, and a name nobody can guess from the call id.
    assert path.relative_to(storage).parts[:2] == ("recordings", "salon")
    assert path.name.startswith(str(call.pk)) and len(path.stem) > len(str(call.pk)) + 10
    assert abs(float(recording.duration_seconds) - 2.0) < 0.1
    assert (float(recording.started_offset_seconds), recording.muted) == (0.31, [[1, 0.5, 1.0]])


@pytest.mark.parametrize(("audio", "content_type", "status", "code"), [
    (b"RIFF....WAVEfmt ", "audio/ogg", 400, "invalid_recording"),
    ("mono", "audio/ogg", 400, "invalid_recording"),
    (b"OggS" + b"\0" * 100, "audio/ogg", 400, "invalid_recording"),
    ("stereo", "application/json", 415, None),
])
def test_it_refuses_anything_but_a_stereo_ogg_opus_file(committed_db, api_server, storage, audio, content_type,
                                                       status, code):
    call, token = start_call("salon")
    body = {"mono": ogg_opus(channels=1), "stereo": ogg_opus()}.get(audio, audio) if isinstance(audio, str) else audio

    response = post_recording(api_server, call.pk, token, body, content_type=content_type)

    assert response.status_code == status
    if code:
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"].endswith(".")
    assert recording_of("salon", call.pk) is None
    assert stored_files(storage) == []


def test_a_call_token_uploads_only_its_own_calls_recording(committed_db, api_server, storage):
    call, token = start_call("salon")
    other, _ = start_call("salon")
    pizzeria_call, _ = start_call("pizzeria")

    assert post_recording(api_server, other.pk, token, ogg_opus()).status_code == 403
    assert post_recording(api_server, pizzeria_call.pk, token, ogg_opus()).status_code == 403
    assert post_recording(api_server, call.pk, "not-a-token", ogg_opus()).status_code == 401
    assert post_recording(api_server, uuid.uuid4(), token, ogg_opus()).status_code == 403
    assert stored_files(storage) == []


@pytest.fixture
def salon_retention(committed_db):
    def choose(**values):
        with schema_context("salon"):
            AgentSettings.objects.update(**values)

    yield choose
    choose(recording_retention_days=30, recording_retention_deletes_transcript=False)


def test_the_sweep_deletes_recordings_past_the_tenants_retention_from_storage(committed_db, api_server, storage,
                                                                             salon_retention):
    salon_retention(recording_retention_days=7)
    now = clock.now()
    old, old_token = start_call("salon")
    recent, recent_token = start_call("salon")
    # The pizzeria keeps 30 days (the default): its 8-day-old call is kept.
    pizzeria_old, pizzeria_token = start_call("pizzeria")
    for call, token in ((old, old_token), (recent, recent_token), (pizzeria_old, pizzeria_token)):
        assert post_recording(api_server, call.pk, token, ogg_opus(seconds=0.5)).status_code == 201
    for schema, call, days in (("salon", old, 8), ("salon", recent, 6), ("pizzeria", pizzeria_old, 8)):
        with schema_context(schema):
            Call.objects.filter(pk=call.pk).update(started_at=now - dt.timedelta(days=days))
    old_file = Path(recording_of("salon", old.pk).audio.path)

    # The beat task itself, run here (a worker process would not see this test's storage).
    result = recordings_sweep.apply().get()

    assert result == {"salon": {"recordings": 1, "transcript_turns": 0}}
    assert not old_file.exists()
    assert recording_of("salon", old.pk) is None
    assert recording_of("salon", recent.pk) is not None and recording_of("pizzeria", pizzeria_old.pk) is not None
    assert len(stored_files(storage)) == 2


def test_the_sweep_deletes_old_transcripts_too_when_the_tenant_chose_so(committed_db, api_server, storage,
                                                                       salon_retention, celery_worker_process):
    salon_retention(recording_retention_days=7, recording_retention_deletes_transcript=True)
    old, old_token = start_call("salon")
    recent, recent_token = start_call("salon")
    for call, token in ((old, old_token), (recent, recent_token)):
        post_log(api_server, call.pk, token, a_log(turns=4))
        wait_until(lambda call=call: stored_call("salon", call.pk), what="the log")
    with schema_context("salon"):
        Call.objects.filter(pk=old.pk).update(started_at=clock.now() - dt.timedelta(days=8))

    recordings_sweep.apply().get()

    assert turns_of("salon", old.pk) == []
    assert len(turns_of("salon", recent.pk)) == 4
    with schema_context("salon"):
        assert not ToolInvocation.objects.filter(call_id=old.pk).exists()
        assert Call.objects.filter(pk=old.pk).exists()  # the call itself (its outcome, length) stays


def test_card_numbers_never_reach_the_stored_transcript_or_tool_calls(committed_db, api_server,
                                                                      celery_worker_process):
    call, token = start_call("salon")
    log = a_log(turns=2)
    log["transcript"][0]["text"] = "My card is four one one one one one one one one one one one one one one one."
    log["transcript"][1]["text"] = "That's 5555 5555 5555 4444, expiry next May."
    log["tool_calls"][0]["arguments"] = {"note": "pay with 4111-1111-1111-1111", "card": 378282246310005}
    log["tool_calls"][1]["result"] = {"echo": "4111111111111111"}

    assert post_log(api_server, call.pk, token, log).status_code == 202
    wait_until(lambda: stored_call("salon", call.pk), what="the log")

    with schema_context("salon"):
        texts = list(TranscriptTurn.objects.filter(call_id=call.pk).order_by("sequence").values_list("text", flat=True))
        tools = list(ToolInvocation.objects.filter(call_id=call.pk).order_by("sequence").values("arguments", "result"))
    assert texts == ["My card is [card number ending 1111].", "That's [card number ending 4444], expiry next May."]
    assert tools[0]["arguments"] == {"note": "pay with [card number ending 1111]", "card": "[card number ending 0005]"}
    assert tools[1]["result"] == {"echo": "[card number ending 1111]"}


def test_numbers_that_are_not_card_numbers_are_kept(committed_db, api_server, celery_worker_process):
    call, token = start_call("salon")
    log = a_log(turns=1)
    # A phone number, a date and time, and 16 digits that fail the Luhn check.
    log["transcript"][0]["text"] = "Call +15557654321 on 2026-03-10 14:30, ref 4111 1111 1111 1112."

    post_log(api_server, call.pk, token, log)
    wait_until(lambda: stored_call("salon", call.pk), what="the log")

    assert [text for _, _, text in turns_of("salon", call.pk)] == [
        "Call +15557654321 on 2026-03-10 14:30, ref 4111 1111 1111 1112."]
