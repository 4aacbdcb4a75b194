"""How full this voice worker is, as LiveKit's dispatcher sees it, and how it drains.

LiveKit sends a call to a registered worker whose reported load is below its threshold, and marks a
worker FULL once its load (plus calls accepted but not yet started) reaches the threshold. livekit's
default load is the machine's CPU alone, averaged over 2.5 s, with a threshold of 0.7: a CPU
average lags a burst of new calls, and says nothing about memory. What degrades a call here first
is measured (`bench/worker_capacity.py`, docs/BENCHMARKS.md): the added latency per turn rises with
the number of concurrent calls per core. So the load is the larger of

- active calls / VOICE_MAX_CALLS (by default the measured calls per core times this machine's
  cores, cgroup limits included), and
- the CPU average / VOICE_CPU_FULL (other work on the machine, or calls dearer than the measured ones),

and the threshold is 1.0: the worker is full at VOICE_MAX_CALLS calls, or earlier if the CPU is.
A load in 0..1 also orders the workers: LiveKit prefers the least loaded.

SIGTERM: livekit's CLI (`start`; `dev` exits at once) calls `AgentServer.drain()`, which reports the
worker FULL, takes no new job, waits for the running ones, and gives up after `drain_timeout`
seconds (VOICE_DRAIN_TIMEOUT here; livekit's own default is an hour), then closes the job
processes. An orchestrator's SIGKILL grace period must be longer than VOICE_DRAIN_TIMEOUT.
"""
from __future__ import annotations

import math
import os
import threading
from collections import deque
from dataclasses import dataclass

# Calls per core this worker reports itself full at (VOICE_MAX_CALLS overrides it). From
# bench/real_capacity.py: real SIP calls through the LiveKit server and SIP bridge into this worker on the
# 2-core bench machine (docs/BENCHMARKS.md, "Calls per core through the real media path", 06:23 UTC run):
# 3 calls per core (N = 6) held and 4 per core (N = 8) failed every call, with the server, the bridge,
# the phones and the stand-ins on the same two cores. A call costs ~125 ms of job-process CPU per second
# of call (~0.13 core), half of it the WebRTC stack inside the job process; a machine that runs only
# the worker can carry more (0.85 / 0.13 ≈ 6 per core by CPU): measure there and set VOICE_MAX_CALLS.
MEASURED_CALLS_PER_CORE = 3
DEFAULT_CPU_FULL = 0.85
DEFAULT_DRAIN_TIMEOUT_SECONDS = 600  # a long phone call; shorter than most orchestrators would allow by default
LOAD_THRESHOLD = 1.0


def _env_number(name: str, default: float, *, minimum: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}, not {raw!r}")
    return value


@dataclass(frozen=True)
class Capacity:
    max_calls: int
    cpu_full: float
    drain_timeout: int

    @classmethod
    def from_env(cls, *, cores: float | None = None) -> Capacity:
        """VOICE_MAX_CALLS (default: measured calls per core x cores), VOICE_CPU_FULL (0..1, default
        0.85; "off": calls alone), VOICE_DRAIN_TIMEOUT (seconds, default 600)."""
        if cores is None:
            from livekit.agents.utils.hw import get_cpu_monitor

            cores = get_cpu_monitor().cpu_count()
        default_calls = max(1, math.floor(MEASURED_CALLS_PER_CORE * cores))
        if os.environ.get("VOICE_CPU_FULL", "").strip().lower() == "off":
            # Calls alone size the worker: on a host shared with other services (the local phone line of
            # `make run` and the real-call tests) the machine's CPU says nothing about this worker.
            cpu_full = math.inf
        else:
            cpu_full = _env_number("VOICE_CPU_FULL", DEFAULT_CPU_FULL, minimum=0.05)
        if cpu_full > 1 and cpu_full != math.inf:
            raise ValueError(f"VOICE_CPU_FULL is a fraction of the CPU (0..1), not {cpu_full:g}")
        return cls(max_calls=int(_env_number("VOICE_MAX_CALLS", default_calls, minimum=1)),
                   cpu_full=cpu_full,
                   drain_timeout=int(_env_number("VOICE_DRAIN_TIMEOUT", DEFAULT_DRAIN_TIMEOUT_SECONDS, minimum=1)))

    def load(self, *, active_calls: int, cpu: float) -> float:
        """The load reported to LiveKit: the fuller of calls and CPU, at most 1."""
        return min(1.0, max(active_calls / self.max_calls, cpu / self.cpu_full))


class CpuAverage:
    """The machine's CPU use (0..1, cgroup-aware: livekit's CPU monitor), averaged over the last
    `samples` half-seconds by a background thread. The load function runs before every
    availability answer, so it must not block for a sample itself."""

    def __init__(self, *, samples: int = 5) -> None:
        self._samples: deque[float] = deque(maxlen=samples)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        from livekit.agents.utils.hw import get_cpu_monitor

        monitor = get_cpu_monitor()
        while True:
            sample = monitor.cpu_percent(interval=0.5)
            with self._lock:
                self._samples.append(sample)

    def value(self) -> float:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="soniq-cpu-average", daemon=True)
                self._thread.start()
            return sum(self._samples) / len(self._samples) if self._samples else 0.0


def load_function(capacity: Capacity, cpu: CpuAverage | None = None):
    """The AgentServer's load_fnc: called with the server, in an executor thread, every 0.5 s and
    before each availability answer."""
    cpu = cpu or CpuAverage()

    def worker_load(server) -> float:
        return capacity.load(active_calls=len(server.active_jobs), cpu=cpu.value())

    return worker_load
