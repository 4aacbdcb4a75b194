"""Call recordings on the worker's side: both sides of the call in one stereo Ogg/Opus file (the
caller on the left channel, the agent on the right), muted where a card number was said, uploaded
after the call through a spool like the call log's.

Where the audio comes from: livekit-agents' own recorder (`voice.recorder_io.RecorderIO`, the class
behind `session.start(record=True)`), attached to the session's audio input and output by this
module rather than by `session.start`. The framework attaches it only inside a real job context
and writes to the job's temporary session directory (deleted at cleanup), and its `record` switch
also drives the LiveKit Cloud upload of traces and transcripts. Attached here, the same encoder (one
timeline, the caller where their audio arrived, the agent where its audio actually played, so an
interrupted sentence stops where the caller heard it stop; Opus encoding in its own thread) writes
straight into the spool directory, on the same filesystem the upload is retried from, and the same
code runs in tests with a simulated room.

The file is written as the call goes and closed the moment the call is over (`CallState.on_over`:
the caller left or was hung up on), so it is as long as the call, not the job's teardown after it.
When the job ends (a shutdown callback, beside the one that sends the log) the file is moved into the spool
(`VOICE_SPOOL_DIR/recordings/<call id>/`, a rename, with the windows to mute) before one upload
attempt; whichever process sends a spooled recording first silences the card-number windows in it
(once, recorded in its meta), so a recording never leaves the worker unmuted. A failed
upload stays spooled and `SpoolResender` (in the worker's main process) retries it every minute and
after a restart. Job processes serve one call each, so nothing here delays the next call; the log's
callback does not wait for this one.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from django.conf import settings
from livekit.agents import AgentSession
from livekit.agents.voice.recorder_io import RecorderIO

from core.call_contract import CallConfig
from core.card_numbers import contains_card_number
from voiceworker.api_client import ApiRefused, ApiUnavailable, _error_of
from voiceworker.call_logger import spool_claims_release
from voiceworker.call_state import CallState

logger = logging.getLogger("soniq.voiceworker")

SEND_TIMEOUT_SECONDS = 10.0
# Muting reaches a little past what the session timed: speech-to-text's word timings are not the audio's.
MUTE_MARGIN_SECONDS = 0.5
# A caller turn whose start the session did not time (text mode, a missed VAD start): this much before its end.
UNTIMED_TURN_SECONDS = 20.0
CALLER, AGENT = 0, 1  # the channels: left, right
# A phone line carries 8 kHz narrowband audio; recording at 16 kHz keeps all of it (and the agent's
# voice up to 8 kHz) for less CPU than the recorder's default 48 kHz (bench/recording.py).
RECORDING_SAMPLE_RATE = 16000
AUDIO_NAME, META_NAME = "audio.ogg", "meta.json"


def recording_enabled(config: CallConfig) -> bool:
    return config.recording.enabled


@dataclass
class MuteWindows:
    """Where card numbers were said: (channel, start, end) on the wall clock."""

    windows: list[tuple[int, float, float]] = field(default_factory=list)

    def on_item(self, item: Any) -> None:
        if getattr(item, "type", None) != "message" or item.role not in ("user", "assistant"):
            return
        if not contains_card_number(item.text_content or ""):
            return
        metrics = item.metrics or {}
        end = metrics.get("stopped_speaking_at") or item.created_at
        start = metrics.get("started_speaking_at") or end - UNTIMED_TURN_SECONDS
        channel = CALLER if item.role == "user" else AGENT
        self.windows.append((channel, start - MUTE_MARGIN_SECONDS, end + MUTE_MARGIN_SECONDS))


def mute(path: Path, windows: list[tuple[int, float, float]]) -> None:
    """Silence each (channel, start, end) window (seconds into the file), re-encoding it in place."""
    import av
    import numpy as np

    with av.open(str(path)) as source:
        stream = source.streams.audio[0]
        rate = stream.codec_context.sample_rate
        blocks = [frame.to_ndarray().reshape(2, -1) if frame.format.is_planar else
                  frame.to_ndarray().reshape(-1, 2).T for frame in source.decode(stream)]
    pcm = np.concatenate(blocks, axis=1).astype(np.float32) if blocks else np.zeros((2, 0), np.float32)
    for channel, start, end in windows:
        pcm[channel, max(int(start * rate), 0):max(int(end * rate), 0)] = 0.0
    muted = path.with_name(f".{path.name}.muted")
    with av.open(str(muted), mode="w", format="ogg") as target:
        out = target.add_stream("libopus", rate=rate, layout="stereo")
        frame_size = rate // 50
        for at in range(0, pcm.shape[1], frame_size):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, at:at + frame_size]), format="fltp",
                                               layout="stereo")
            frame.sample_rate = rate
            for packet in out.encode(frame):
                target.mux(packet)
        for packet in out.encode(None):
            target.mux(packet)
    os.replace(muted, path)


class RecordingUploader:
    """The recordings' spool and their upload, shaped like `CallLogger` so `SpoolResender` runs it.

    A spooled recording is a directory `<call id>/` holding the audio and `meta.json` (token, offset,
    muted windows). Made under a temporary name and renamed, so a resender never sees half of one;
    claimed by renaming it before sending, so two processes never send the same one at once (the
    API recognises a second delivery of the same bytes anyway)."""

    def __init__(self, *, api_url: str, spool_dir: str | os.PathLike, send_timeout: float = SEND_TIMEOUT_SECONDS):
        self.api_url = api_url.rstrip("/")
        self.spool_dir = Path(spool_dir) / "recordings"
        self.send_timeout = send_timeout

    def spool(self, *, call_id: str, call_token: str, audio: Path, offset_seconds: float,
              muted: list[list[float]]) -> Path | None:
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            final = self.spool_dir / _safe_name(call_id)
            temporary = self.spool_dir / f".{final.name}.{uuid.uuid4().hex}.tmp"
            temporary.mkdir(mode=0o700)
            shutil.move(str(audio), temporary / AUDIO_NAME)  # a rename: the recorder writes in this spool
            (temporary / META_NAME).write_text(json.dumps({
                "call_id": call_id, "call_token": call_token, "offset_seconds": offset_seconds, "muted": muted,
                "spooled_at": time.time()}), encoding="utf-8")
            os.rename(temporary, final)
            return final
        except OSError:
            logger.exception("could not spool the recording of call %s; it is lost", call_id)
            return None

    def spooled(self) -> list[Path]:
        if not self.spool_dir.is_dir():
            return []
        return sorted(path for path in self.spool_dir.iterdir()
                      if path.is_dir() and not path.name.startswith(".") and ".sending-" not in path.name
                      and path.name != "rejected")

    async def deliver(self, *, entry: Path) -> bool:
        """One bounded attempt at a spooled recording; never raises (it runs in teardown)."""
        return await self._send_claimed(entry) == "delivered"

    async def resend_spooled(self) -> int:
        spool_claims_release(self.spool_dir, "*.sending-*")
        delivered = 0
        for entry in self.spooled():
            result = await self._send_claimed(entry)
            if result == "delivered":
                delivered += 1
            elif result == "unavailable":
                break  # the API or storage is still down: the next one would only wait the same timeout
        return delivered

    async def _send_claimed(self, entry: Path) -> str:
        claimed = entry.with_name(f"{entry.name}.sending-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(entry, claimed)
        except FileNotFoundError:
            return "claimed"  # another process has it
        try:
            meta = json.loads((claimed / META_NAME).read_text(encoding="utf-8"))
            call_id, _token = meta["call_id"], meta["call_token"]
        except (OSError, ValueError, KeyError, TypeError):
            logger.error("unreadable spooled recording %s; moved to rejected/", entry.name)
            self._move(claimed, self.spool_dir / "rejected" / entry.name)
            return "rejected"
        if meta.get("muted") and not meta.get("mute_applied"):
            try:
                # Off the event loop: decoding and encoding a call takes a moment of CPU.
                await asyncio.to_thread(mute, claimed / AUDIO_NAME, [tuple(window) for window in meta["muted"]])
            except Exception:
                # Never sent unmuted: it stays spooled, and a person looks at the log.
                logger.exception("could not mute the recording of call %s; it stays spooled", call_id)
                self._move(claimed, entry)
                return "unavailable"
            meta["mute_applied"] = True
            (claimed / META_NAME).write_text(json.dumps(meta), encoding="utf-8")
        try:
            await asyncio.wait_for(self._send(claimed, meta), self.send_timeout)
        except ApiRefused as exc:
            logger.error("the API refused the recording of call %s: %s; moved to rejected/", call_id, exc)
            self._move(claimed, self.spool_dir / "rejected" / entry.name)
            return "rejected"
        except (ApiUnavailable, TimeoutError, aiohttp.ClientError, OSError) as exc:
            logger.warning("recording of call %s not delivered (%s); it stays spooled", call_id, exc or "timeout")
            self._move(claimed, entry)
            return "unavailable"
        shutil.rmtree(claimed, ignore_errors=True)
        logger.info("delivered the recording of call %s", call_id)
        return "delivered"

    async def _send(self, entry: Path, meta: dict[str, Any]) -> None:
        audio = (entry / AUDIO_NAME).read_bytes()
        headers = {"Authorization": f"Bearer {meta['call_token']}", "Content-Type": "audio/ogg",
                   "X-Recording-Offset-Seconds": f"{float(meta.get('offset_seconds') or 0):.3f}",
                   "X-Recording-Muted": json.dumps(meta.get("muted") or []),
                   "User-Agent": "soniq-voiceworker"}
        url = f"{self.api_url}/internal/calls/{meta['call_id']}/recording"
        async with aiohttp.ClientSession() as http, http.post(url, data=audio, headers=headers) as response:
            text = await response.text()
            status = response.status
        if status >= 500:
            raise ApiUnavailable(f"the recording upload answered {status}")
        if not 200 <= status < 300:
            try:
                data = json.loads(text) if text else {}
            except ValueError:
                data = {}
            code, message = _error_of(data if isinstance(data, dict) else {})
            raise ApiRefused(status, code, message)

    def _move(self, source: Path, target: Path) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
            os.rename(source, target)
        except OSError:
            logger.exception("could not move spooled recording %s", source)


class CallRecording:
    """One call's recording, from `start()` (the session's audio is live) to `finish()` (the job ends)."""

    def __init__(self, *, session: AgentSession, call: CallState, uploader: RecordingUploader):
        self.session = session
        self.call = call
        self.uploader = uploader
        self.mute_windows = MuteWindows()
        self.path = uploader.spool_dir / f".{_safe_name(call.call_id)}.{uuid.uuid4().hex[:8]}.recording.ogg"
        self.recorder: RecorderIO | None = None
        self.entry: Path | None = None
        self._closed: asyncio.Future | None = None

    def attach(self) -> bool:
        """Put the recorder between the session and its audio (before anything is said)."""
        if self.session.input.audio is None or self.session.output.audio is None:
            logger.warning("call %s: the session has no audio to record", self.call.call_id)
            return False
        self.recorder = RecorderIO(agent_session=self.session, sample_rate=RECORDING_SAMPLE_RATE)
        self.session.input.audio = self.recorder.record_input(self.session.input.audio)
        self.session.output.audio = self.recorder.record_output(self.session.output.audio)
        self.session.on("conversation_item_added", lambda event: self.mute_windows.on_item(event.item))
        return True

    async def start(self) -> None:
        assert self.recorder is not None
        self.uploader.spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        await self.recorder.start(output_path=self.path)

    def close(self) -> asyncio.Future:
        """Stop recording (once): the file ends here."""
        assert self.recorder is not None
        if self._closed is None:
            self._closed = asyncio.ensure_future(self.recorder.aclose())
        return self._closed

    async def finish(self, *_reason: Any) -> bool:
        """Close the file (if the call's end has not), mute card numbers, spool, one upload attempt. Never raises."""
        if self.recorder is None or self.recorder.recording_started_at is None:
            return False
        try:
            started_at = self.recorder.recording_started_at
            await self.close()
            windows = [(channel, start - started_at, end - started_at) for channel, start, end in self.mute_windows.windows]
            # Spooled first, muted when it is sent (`_send_claimed`): muting a long call takes seconds,
            # and a job process killed meanwhile must leave the file in the spool, still to be muted.
            self.entry = self.uploader.spool(
                call_id=self.call.call_id, call_token=self.call.call_token, audio=self.path,
                offset_seconds=round(started_at - self.call.recorder.started_at, 3),
                muted=[[channel, round(start, 2), round(end, 2)] for channel, start, end in windows])
        except Exception:
            logger.exception("call %s: the recording could not be finished", self.call.call_id)
            return False
        if self.entry is None:
            return False
        return await self.uploader.deliver(entry=self.entry)


def register(ctx: Any, session: AgentSession, call: CallState, *, uploader: RecordingUploader | None = None
             ) -> asyncio.Future | None:
    """From the entrypoint, once the session has started: record this call if its config says so,
    and finish the recording as the job ends. Returns the start (tests await it), or None."""
    if not recording_enabled(call.config):
        return None
    if uploader is None:
        uploader = RecordingUploader(api_url=settings.SONIQ_API_URL, spool_dir=settings.VOICE_SPOOL_DIR)
    recording = CallRecording(session=session, call=call, uploader=uploader)
    call.recording = recording  # type: ignore[attr-defined]  # tests and benches reach it here
    if not recording.attach():
        return None
    started = asyncio.ensure_future(recording.start())

    async def close_when_started() -> None:
        with contextlib.suppress(Exception):
            await started
        await recording.close()

    # The file ends where the call does (the caller left or was hung up on), as the log's duration does;
    # the job's teardown (the log's delivery, the room's deletion) takes seconds more and is not the call.
    closing: list[asyncio.Future] = []
    call.on_over.append(lambda: closing.append(asyncio.ensure_future(close_when_started())))

    async def finish_recording(reason: str = "") -> None:
        try:
            await started
        except Exception:
            logger.exception("call %s: the recording never started", call.call_id)
            return
        await recording.finish(reason)

    ctx.add_shutdown_callback(finish_recording)
    return started


def _safe_name(call_id: str) -> str:
    return "".join(ch for ch in call_id if ch.isalnum() or ch in "-_")[:100] or uuid.uuid4().hex
