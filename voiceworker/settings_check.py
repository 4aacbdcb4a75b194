"""Which settings a worker command needs, checked before anything is forked, so a missing key is one
clear message at start rather than a crash in the first call."""
from __future__ import annotations

import os

from django.conf import settings

LIVEKIT = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
PROVIDERS = ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY")
PLATFORM = ("SONIQ_API_URL", "INTERNAL_API_TOKEN")

REQUIRED = {
    "start": LIVEKIT + PROVIDERS + PLATFORM,
    "dev": LIVEKIT + PROVIDERS + PLATFORM,
    "connect": LIVEKIT + PROVIDERS + PLATFORM,
    # The console runs a local fake room: no LiveKit server, but real providers and the API.
    "console": PROVIDERS + PLATFORM,
}
# livekit-agents options that stand in for a setting on the command line.
CLI_OVERRIDES = {"--url": "LIVEKIT_URL", "--api-key": "LIVEKIT_API_KEY", "--api-secret": "LIVEKIT_API_SECRET"}


def missing_settings(subcommand: str, cli_args: list[str] | None = None) -> list[str]:
    """The settings `subcommand` needs that are empty, in a stable order."""
    given_on_cli = {setting for option, setting in CLI_OVERRIDES.items()
                    for arg in (cli_args or []) if arg == option or arg.startswith(f"{option}=")}
    missing = []
    for name in REQUIRED.get(subcommand, ()):
        if name in given_on_cli:
            continue
        if name == "OPENAI_API_KEY" and settings.OPENAI_BASE_URL:
            continue  # an OpenAI-compatible local server needs no key
        if not str(getattr(settings, name, "") or "").strip():
            missing.append(name)
    if subcommand == "console" and not os.environ.get("VOICE_CONSOLE_NUMBER", "").strip():
        # The console has no SIP call to say which business was dialled.
        missing.append("VOICE_CONSOLE_NUMBER")
    return missing


def missing_settings_message(subcommand: str, missing: list[str]) -> str:
    return (f"runvoiceworker {subcommand} cannot start: set {', '.join(missing)} "
            "(in the environment or .env; see the README's voice worker section).")
