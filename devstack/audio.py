"""Speech made at run time (espeak-ng, festival and sox from Debian) and what can be read off a recording.

Nothing here is committed audio: a caller's lines are synthesised when a test or bench needs them, and
the checks look at energy over time (speech is well above the line's silence), not at words.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CACHE_DIR = Path(tempfile.gettempdir()) / "soniq-speech"
FRAME_SECONDS = 0.02


def require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if not path:
        raise RuntimeError(f"{binary} is not installed: install Debian's {package}")
    return path


def speak(text: str, *, rate: int, voice: str = "en-us", speed: int = 165) -> np.ndarray:
    """`text` as int16 mono samples at `rate` Hz (espeak-ng, resampled by sox); cached by its inputs."""
    key = hashlib.sha1(f"{text}|{rate}|{voice}|{speed}".encode()).hexdigest()[:20]
    path = CACHE_DIR / f"{key}.wav"
    if not path.exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        raw = path.with_suffix(".raw.wav")
        subprocess.run([require("espeak-ng", "espeak-ng"), "-v", voice, "-s", str(speed), "-w", str(raw), text],
                       check=True, capture_output=True)
        tmp = path.with_suffix(".tmp.wav")
        subprocess.run([require("sox", "sox"), str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(tmp)],
                       check=True, capture_output=True)
        raw.unlink(missing_ok=True)
        tmp.replace(path)
    return read_wav(path)[0]


# Festival's HTS voice (CMU ARCTIC "slt"): a statistical voice trained on one speaker's recordings,
# so its pitch falls at a sentence's end and holds at a comma as a person's does. espeak-ng's rules
# end every clause alike, and an end-of-turn model that listens to how a sentence ends hears every
# espeak pause as an ending (bench/turn_taking.py).
FESTIVAL_VOICE = "(voice_cmu_us_slt_arctic_hts)"


def speak_with_pauses(pieces: list[str | float], *, rate: int) -> tuple[np.ndarray, list[Segment]]:
    """One utterance said as a person says it with pauses inside ("My number is, 0.8 s, five five
    five, …"): the pieces said as ONE sentence (commas where the pauses go, so the voice holds its
    pitch there), then its phrase breaks stretched to the given silences. Returns the samples and
    where each piece of speech is in them. Needs Debian's festival and festvox-us-slt-hts."""
    words = [piece for piece in pieces if isinstance(piece, str)]
    pauses = [piece for piece in pieces if not isinstance(piece, str)]
    sentence = " ".join(word if word is words[-1] or word.endswith((",", ".", "?")) else f"{word},"
                        for word in words)
    key = hashlib.sha1(f"festival|{FESTIVAL_VOICE}|{sentence}|{rate}".encode()).hexdigest()[:20]
    path, segs = CACHE_DIR / f"{key}.wav", CACHE_DIR / f"{key}.segs"
    if not (path.exists() and segs.exists()):
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        raw = path.with_suffix(".raw.wav")
        quoted = sentence.replace("\\", "").replace('"', "")
        # Festival's own phone timings say where its phrase breaks ("pau") are: a silence found by
        # energy could as well be a stop consonant inside a word.
        script = (f'{FESTIVAL_VOICE}\n(set! u (SynthText "{quoted}"))\n'
                  f'(utt.save.wave u "{raw}" \'riff)\n(utt.save.segs u "{segs}")\n')
        scheme = path.with_suffix(".scm")
        scheme.write_text(script)
        subprocess.run([require("festival", "festival festvox-us-slt-hts"), "--batch", str(scheme)],
                       check=True, capture_output=True)
        scheme.unlink()
        tmp = path.with_suffix(".tmp.wav")
        subprocess.run([require("sox", "sox"), str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(tmp)],
                       check=True, capture_output=True)
        raw.unlink(missing_ok=True)
        tmp.replace(path)
    speech = read_wav(path)[0]
    phones, previous_end = [], 0.0  # (start, end, name); the file gives each phone's end time
    for line in segs.read_text().splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0].replace(".", "", 1).isdigit():
            phones.append((previous_end, float(fields[0]), fields[2]))
            previous_end = float(fields[0])
    breaks = [(start, end) for start, end, name in phones[1:-1] if name == "pau"] if pauses else []
    # One break per comma; those between the pieces are stretched, a piece's own commas kept.
    inner = [len(re.findall(r"[,;]\s", word.rstrip(",;") + " ")) for word in words]
    if pauses and len(breaks) != sum(inner) + len(pauses):
        raise RuntimeError(f"festival made {len(breaks)} phrase breaks in {sentence!r}, "
                           f"not {sum(inner) + len(pauses)}")
    breaks = [breaks[sum(inner[:index + 1]) + index] for index in range(len(pauses))]
    spans = [(phones[0][1], breaks[0][0] if breaks else phones[-1][0])]
    spans += [(breaks[i][1], breaks[i + 1][0] if i + 1 < len(breaks) else phones[-1][0]) for i in range(len(breaks))]
    parts, spoken, position = [], [], 0.0
    for index, (start, end) in enumerate(spans):
        piece = speech[int(start * rate):int(end * rate)]
        parts.append(piece)
        spoken.append(Segment(round(position, 3), round(position + len(piece) / rate, 3)))
        position += len(piece) / rate
        if index < len(pauses):
            parts.append(silence(pauses[index], rate))
            position += pauses[index]
    return np.concatenate(parts), spoken


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.int16)


def read_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """Mono int16 samples and the rate (the first channel of a stereo file)."""
    with wave.open(str(path), "rb") as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        data = wav.readframes(wav.getnframes())
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples, expected 16-bit")
    samples = np.frombuffer(data, dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels)[:, 0]
    return samples.copy(), rate


def write_wav(path: Path | str, samples: np.ndarray, rate: int) -> Path:
    path = Path(path)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return path


@dataclass(frozen=True)
class Segment:
    """A stretch of speech in a recording, in seconds from the recording's start."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def frame_levels(samples: np.ndarray, rate: int) -> np.ndarray:
    """RMS level of each 20 ms frame, in dBFS (-100 for digital silence)."""
    size = int(rate * FRAME_SECONDS)
    count = len(samples) // size
    if count == 0:
        return np.zeros(0)
    frames = samples[: count * size].astype(np.float64).reshape(count, size) / 32768.0
    rms = np.sqrt((frames ** 2).mean(axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-5))


def speech_segments(samples: np.ndarray, rate: int, *, threshold_db: float = -40.0, min_gap: float = 0.35,
                    min_length: float = 0.12) -> list[Segment]:
    """Where the recording carries speech: frames above `threshold_db`, gaps shorter than `min_gap` joined
    (pauses between words), blips shorter than `min_length` dropped."""
    loud = frame_levels(samples, rate) > threshold_db
    segments: list[list[float]] = []
    for index, is_loud in enumerate(loud):
        if not is_loud:
            continue
        start, end = index * FRAME_SECONDS, (index + 1) * FRAME_SECONDS
        if segments and start - segments[-1][1] <= min_gap:
            segments[-1][1] = end
        else:
            segments.append([start, end])
    return [Segment(round(start, 3), round(end, 3)) for start, end in segments if end - start >= min_length]


def level_db(samples: np.ndarray) -> float:
    if len(samples) == 0:
        return -100.0
    rms = float(np.sqrt(np.mean((samples.astype(np.float64) / 32768.0) ** 2)))
    return 20 * float(np.log10(max(rms, 1e-5)))


@dataclass
class Script:
    """A caller's side of a call as one WAV: each line after a pause, then silence to hang on the line.

    baresip plays the file as its microphone and ends the call when the file ends, so the tail is long;
    a test hangs up itself. `lines` are (seconds of silence before, text)."""

    lines: list[tuple[float, str]]
    rate: int = 8000
    tail_seconds: float = 60.0

    def render(self, path: Path | str) -> tuple[Path, list[Segment]]:
        """Write the WAV; returns it and where each line is in it (the caller's own end of speech)."""
        parts, spoken, position = [], [], 0.0
        for pause, text in self.lines:
            parts.append(silence(pause, self.rate))
            position += pause
            speech = speak(text, rate=self.rate)
            parts.append(speech)
            # espeak-ng pads its output with a little silence; the line ends where the speech does.
            inner = speech_segments(speech, self.rate)
            start = position + (inner[0].start if inner else 0.0)
            end = position + (inner[-1].end if inner else len(speech) / self.rate)
            spoken.append(Segment(round(start, 3), round(end, 3)))
            position += len(speech) / self.rate
        parts.append(silence(self.tail_seconds, self.rate))
        return write_wav(path, np.concatenate(parts), self.rate), spoken
