import datetime as dt
import os

import pytest

# The job processes these tests start run no caller audio: the forkserver need not load the
# end-of-turn model (~244 MB; production loads it, runvoiceworker).
os.environ.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")

from voiceworker.tests.fakes import FakeLiveKit, FakeOpenAI  # noqa: E402

CALLER_NUMBER = "+15555550123"

# Fixed moments, so opening hours and escalation hours do not depend on when the tests run.
# Friday 4 December 2026, 12:00 in New York = 18:00 in Berlin: both open, both take transfers.
FRIDAY_NOON_NEW_YORK = dt.datetime(2026, 12, 4, 17, 0, tzinfo=dt.UTC)
# Saturday 5 December 2026, 11:00 in New York: the salon is open, nobody takes transfers.
SATURDAY_MORNING_NEW_YORK = dt.datetime(2026, 12, 5, 16, 0, tzinfo=dt.UTC)


@pytest.fixture
def live_api(settings, api_server, committed_db):
    """The real internal API on the test database; the worker is pointed at it."""
    settings.SONIQ_API_URL = api_server.url
    return api_server


@pytest.fixture
def friday_noon(monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: FRIDAY_NOON_NEW_YORK)
    return FRIDAY_NOON_NEW_YORK


@pytest.fixture
def saturday_morning(monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: SATURDAY_MORNING_NEW_YORK)
    return SATURDAY_MORNING_NEW_YORK


@pytest.fixture
def spool_dir(tmp_path, settings):
    settings.VOICE_SPOOL_DIR = str(tmp_path / "spool")
    return tmp_path / "spool"


@pytest.fixture
def fake_livekit():
    server = FakeLiveKit()
    yield server
    server.stop()


@pytest.fixture
def fake_openai():
    server = FakeOpenAI()
    yield server
    server.stop()


@pytest.fixture
def fresh_forkserver():
    """multiprocessing keeps one forkserver per process, started with the environment of whichever
    test first ran a worker, and livekit does not stop it. A test whose job processes must see its
    own environment gets a forkserver of its own, stopped again afterwards."""
    from multiprocessing import forkserver

    forkserver._forkserver._stop()
    yield
    forkserver._forkserver._stop()


@pytest.fixture
def voice(live_api, friday_noon, fake_openai, fake_livekit, spool_dir, settings):
    """A call's voice pieces on the real API: the worker's LLM is the local OpenAI-compatible endpoint."""
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = fake_openai.base_url, "test-key"
    return {"api_url": live_api.url, "spool_dir": spool_dir}
