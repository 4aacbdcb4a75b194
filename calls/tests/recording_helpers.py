"""Recordings for the tests: real stereo Ogg/Opus made with PyAV (the encoder the worker uses), and
the storage each test keeps them in."""
from __future__ import annotations

import io
import math

import av
import numpy as np
import requests

RATE = 48000


def ogg_opus(*, seconds: float = 2.0, channels: int = 2, frequency: float = 440.0) -> bytes:
    """A tone on the left channel (the caller), silence on the right, as the worker would write it."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=RATE, layout="stereo" if channels == 2 else "mono")
        count = int(seconds * RATE)
        tone = (np.sin(2 * math.pi * frequency * np.arange(count) / RATE) * 0.3).astype(np.float32)
        pcm = np.stack([tone, np.zeros(count, np.float32)]) if channels == 2 else tone[np.newaxis, :]
        for at in range(0, count, RATE // 50):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, at:at + RATE // 50]), format="fltp",
                                               layout="stereo" if channels == 2 else "mono")
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def post_recording(api_server, call_id, token: str, audio: bytes, *, offset: float = 0.25,
                   content_type: str = "audio/ogg", muted: str = "[]") -> requests.Response:
    return requests.post(f"{api_server.url}/internal/calls/{call_id}/recording", data=audio, timeout=10,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": content_type,
                                  "X-Recording-Offset-Seconds": str(offset), "X-Recording-Muted": muted})


def filesystem_storage(settings, location) -> None:
    settings.STORAGES = {**settings.STORAGES, "recordings": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(location)}}}
