"""Call recordings: storing the worker's upload, playing it back, deleting it on time.

The worker uploads each recorded call once (`POST /internal/calls/<id>/recording`, spooled and
retried like the log, so the same bytes may arrive twice: the second is recognised by its digest).
The audio goes to `settings.STORAGES["recordings"]` through django-storages: the filesystem by
default, an S3-compatible bucket in production. Deleting a recording deletes the stored object
first and the row after, so a failure leaves a row pointing at audio that still exists (and is
retried by the next sweep), never audio that nothing points at.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import secrets
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction

from calls.models import Call, CallRecording, ToolInvocation, TranscriptTurn, recordings_storage
from core import clock
from core.errors import DomainError
from tenants.agent.selectors import agent_settings_get

logger = logging.getLogger(__name__)

OGG_MAGIC = b"OggS"


def _probe(audio: bytes) -> tuple[int, float]:
    """(channels, seconds) of an Ogg/Opus file; DomainError if it is not one."""
    import av  # PyAV comes with livekit-agents; only this module needs it on the web side

    try:
        with av.open(io.BytesIO(audio), format="ogg") as container:
            stream = container.streams.audio[0]
            channels = stream.codec_context.channels
            if stream.codec_context.name != "opus":
                raise ValueError(f"codec {stream.codec_context.name}")
            seconds = float(container.duration) / 1_000_000 if container.duration else 0.0
            if not seconds:
                # No duration in the header: the last packet's end is the file's length.
                last = 0.0
                for packet in container.demux(stream):
                    if packet.pts is not None and packet.duration is not None:
                        last = max(last, float((packet.pts + packet.duration) * stream.time_base))
                seconds = last
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        raise DomainError("invalid_recording", "The recording is not a stereo Ogg/Opus file.") from exc
    return channels, seconds


def recording_object_name(call: Call) -> str:
    # The tenant's folder (deprovisioning empties it) and a random part: never guessable, even by
    # someone who knows a call id and finds the bucket.
    return f"recordings/{connection.schema_name}/{call.started_at:%Y/%m}/{call.pk}-{secrets.token_urlsafe(12)}.ogg"


def recording_store(*, call: Call, audio: bytes, started_offset_seconds: float = 0.0,
                    muted: list | None = None) -> tuple[CallRecording, bool]:
    """Store the call's recording. Returns (recording, created): the same upload again is the
    stored one (created False); a different one for a call that has one raises
    `recording_already_received`."""
    if not audio.startswith(OGG_MAGIC):
        raise DomainError("invalid_recording", "The recording is not a stereo Ogg/Opus file.")
    digest = hashlib.sha256(audio).hexdigest()
    existing = CallRecording.objects.filter(call=call).first()
    if existing is not None:
        if existing.sha256 == digest:
            return existing, False
        raise DomainError("recording_already_received", "This call already has a different recording; it is not replaced.")
    channels, seconds = _probe(audio)
    if channels != 2:
        raise DomainError("invalid_recording", "The recording is not a stereo Ogg/Opus file.")
    storage = recordings_storage()
    # The object first, the row after: a row never points at audio that was not written.
    try:
        name = storage.save(recording_object_name(call), ContentFile(audio))
    except Exception as exc:  # the bucket unreachable or refusing, a full or missing disk
        logger.warning("could not store the recording of call %s: %s", call.pk, exc)
        raise DomainError("storage_unavailable",
                          "The recording could not be stored right now; send it again later.") from exc
    try:
        with transaction.atomic():
            # The row lock: two deliveries of the same upload at once store one row (the loser's
            # object is deleted below).
            Call.objects.select_for_update().filter(pk=call.pk).first()
            existing = CallRecording.objects.filter(call=call).first()
            if existing is not None:
                storage.delete(name)
                if existing.sha256 == digest:
                    return existing, False
                raise DomainError("recording_already_received",
                                  "This call already has a different recording; it is not replaced.")
            recording = CallRecording.objects.create(
                call=call, audio=name, size_bytes=len(audio), duration_seconds=Decimal(f"{seconds:.2f}"),
                started_offset_seconds=Decimal(f"{max(min(started_offset_seconds, 99999), 0):.2f}"),
                muted=muted or [], sha256=digest)
    except DomainError:
        raise
    except Exception:
        storage.delete(name)
        raise
    return recording, True


def recording_delete(*, recording: CallRecording) -> None:
    """Delete the audio from storage, then the row."""
    name = recording.audio.name
    storage = recordings_storage()
    if name:
        storage.delete(name)
    CallRecording.objects.filter(pk=recording.pk).delete()
    logger.info("deleted the recording of call %s (%s)", recording.call_id, name)


def recordings_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """In the current tenant schema: delete recordings of calls older than the tenant's retention
    and, if the tenant chose so, those calls' transcripts and tool calls too."""
    now = now or clock.now()
    agent_settings = agent_settings_get()
    days = agent_settings.recording_retention_days if agent_settings else 30
    cutoff = now - dt.timedelta(days=days)
    deleted = 0
    for recording in CallRecording.objects.filter(call__started_at__lt=cutoff).select_related("call"):
        try:
            recording_delete(recording=recording)
            deleted += 1
        except Exception:
            # Storage down: the row stays and the next sweep tries again.
            logger.exception("could not delete the recording of call %s", recording.call_id)
    transcripts = 0
    if agent_settings and agent_settings.recording_retention_deletes_transcript:
        old_calls = Call.objects.filter(started_at__lt=cutoff)
        with transaction.atomic():
            transcripts = TranscriptTurn.objects.filter(call__in=old_calls).delete()[0]
            ToolInvocation.objects.filter(call__in=old_calls).delete()
    return {"recordings": deleted, "transcript_turns": transcripts}


def recordings_delete_all() -> int:
    """Every recording of the current tenant schema, and anything left in its folder (deprovisioning)."""
    count = 0
    for recording in CallRecording.objects.all():
        recording_delete(recording=recording)
        count += 1
    storage = recordings_storage()
    prefix = f"recordings/{connection.schema_name}"
    count += _delete_tree(storage, prefix)
    return count


def _delete_tree(storage, folder: str) -> int:
    try:
        directories, files = storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = 0
    for name in files:
        storage.delete(f"{folder}/{name}")
        removed += 1
    for directory in directories:
        removed += _delete_tree(storage, f"{folder}/{directory}")
    return removed


def recording_signed_url(*, recording: CallRecording) -> str | None:
    """A short-lived signed URL when the storage makes them (S3), else None (the admin streams it)."""
    storage = recordings_storage()
    if not hasattr(storage, "bucket_name"):  # the filesystem: the admin streams it itself
        return None
    return storage.url(recording.audio.name, expire=settings.RECORDINGS_SIGNED_URL_SECONDS)
