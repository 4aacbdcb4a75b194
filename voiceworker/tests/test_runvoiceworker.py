"""`manage.py runvoiceworker`: the livekit-agents CLI behind a Django command, with the settings
checked before anything starts."""
import os
import sys

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from voiceworker.settings_check import LIVEKIT, PLATFORM, PROVIDERS


def test_help_lists_the_subcommands(capsys, monkeypatch):
    # The same path as `python manage.py runvoiceworker --help` in a terminal, without a new process.
    monkeypatch.setattr(sys, "argv", ["manage.py", "runvoiceworker", "--help"])
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(sys.argv).execute()
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    for subcommand in ("start", "dev", "connect", "console", "download-files"):
        assert subcommand in shown


@pytest.mark.parametrize("subcommand", ["start", "console"])
def test_a_subcommands_help_needs_no_settings(subcommand, capsys, monkeypatch, nothing_configured):
    monkeypatch.setattr(sys, "argv", ["manage.py", "runvoiceworker", subcommand, "--help"])
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(sys.argv).execute()
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert "cannot start" not in shown and "--log-level" in shown


@pytest.fixture
def nothing_configured(settings):
    for name in LIVEKIT + PROVIDERS + PLATFORM:
        setattr(settings, name, "")
    settings.OPENAI_BASE_URL = ""
    return settings


@pytest.fixture
def worker_must_not_start(monkeypatch):
    def fail(server):
        raise AssertionError("the worker started although settings are missing")

    monkeypatch.setattr("livekit.agents.cli.run_app", fail)


@pytest.mark.parametrize("subcommand", ["start", "dev"])
def test_missing_settings_stop_the_worker_with_one_message(subcommand, nothing_configured, worker_must_not_start):
    with pytest.raises(CommandError) as refused:
        call_command("runvoiceworker", subcommand, "--log-level", "info")
    message = str(refused.value)
    assert message.startswith(f"runvoiceworker {subcommand} cannot start: set ")
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "DEEPGRAM_API_KEY", "OPENAI_API_KEY",
                 "CARTESIA_API_KEY", "SONIQ_API_URL", "INTERNAL_API_TOKEN"):
        assert name in message


def test_it_names_only_what_is_missing(nothing_configured, worker_must_not_start):
    nothing_configured.DEEPGRAM_API_KEY = "dg"
    nothing_configured.CARTESIA_API_KEY = "ca"
    nothing_configured.OPENAI_BASE_URL = "http://127.0.0.1:8080/v1"  # a local model server needs no key
    nothing_configured.SONIQ_API_URL = "http://127.0.0.1:8000"
    nothing_configured.INTERNAL_API_TOKEN = "secret"
    with pytest.raises(CommandError, match=r"set LIVEKIT_API_KEY, LIVEKIT_API_SECRET \("):
        call_command("runvoiceworker", "start", "--url", "ws://127.0.0.1:7880")


def test_a_configured_worker_hands_over_to_livekit(settings, monkeypatch):
    for name in LIVEKIT + PROVIDERS + PLATFORM:
        setattr(settings, name, getattr(settings, name) or f"value-of-{name.lower()}")
    started = []
    monkeypatch.setattr("livekit.agents.cli.run_app", lambda server: started.append((server, list(sys.argv))))
    monkeypatch.setattr("voiceworker.call_logger.SpoolResender.start", lambda self: None)
    monkeypatch.setattr(sys, "argv", ["manage.py"])
    monkeypatch.setenv("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")  # restored after the test
    monkeypatch.setenv("LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS", "100")
    settings.VOICE_LOOP_BLOCK_WARN_MS = 0
    call_command("runvoiceworker", "start", "--log-level", "info")
    (server, argv), = started
    assert server._agent_name == settings.VOICE_AGENT_NAME
    assert argv == ["manage.py runvoiceworker", "start", "--log-level", "info"]
    # The forkserver loads the end-of-turn model once for every call (issue 21 item 1)...
    assert os.environ["LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE"] == "1"
    # The job processes' event-loop monitor is off unless asked for (docs/BENCHMARKS.md, issue 28: its
    # wake-ups, 100 a second, cost every job process CPU, idle or in a call).
    assert os.environ["LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS"] == "0"
    # ...and nothing loads the model when it is switched off; the monitor runs when a threshold is set.
    settings.VOICE_TURN_DETECTOR = "vad"
    settings.VOICE_LOOP_BLOCK_WARN_MS = 250
    call_command("runvoiceworker", "start")
    assert os.environ["LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE"] == "0"
    assert os.environ["LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS"] == "250"
