"""Imported once, by the forkserver, before it forks any job process (`build_server` lists it).

The Silero VAD's ONNX Runtime session is the largest thing a job process builds for itself:
~17 MB of heap (ONNX Runtime's operator and kernel registries, the graph) and ~0.1 s. Built here,
every job process inherits it copy-on-write, so one concurrent call no longer costs a private copy;
each VAD stream keeps its own state and the session only reads its weights. The session starts no
threads (one intra-op thread, sequential execution), so forking after it is safe, as it is after
the ONNX Runtime import livekit already does in the forkserver.

Nothing else imports this module: in the main process, under a thread executor and in tests the
prewarm loads its own VAD (`entrypoint.prewarm`).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc

from livekit.plugins import silero

vad = silero.VAD.load()


def _return_free_heap_to_the_os() -> None:
    # Building the session frees ~6 MB of temporaries that glibc keeps mapped; every job process
    # would inherit them as resident memory.
    gc.collect()
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        malloc_trim = getattr(ctypes.CDLL(libc_name), "malloc_trim", None)
        if malloc_trim is not None:
            malloc_trim(0)


_return_free_heap_to_the_os()
