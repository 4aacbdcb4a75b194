"""`python manage.py runvoiceworker <start|dev|connect|console|download-files> [livekit options]`

Everything after the command name goes to the livekit-agents CLI, its own `--help` included (which
lists the subcommands). Before it runs, the settings the subcommand needs are checked, so a missing
key stops the worker with one message instead of failing inside the first call's process.
"""
from __future__ import annotations

import argparse
import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from voiceworker.settings_check import missing_settings, missing_settings_message

SUBCOMMANDS = ("start", "dev", "connect", "console", "download-files")


class Command(BaseCommand):
    help = ("Run the Soniq voice worker (livekit-agents): runvoiceworker <start|dev|connect|console|download-files> "
            "[livekit options]. `runvoiceworker --help` shows the livekit-agents help.")
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("livekit_args", nargs=argparse.REMAINDER,
                            help=f"A livekit-agents subcommand ({', '.join(SUBCOMMANDS)}) and its options.")

    def run_from_argv(self, argv: list[str]) -> None:
        # Django's parser would answer `--help` itself and hide the livekit subcommands: hand the
        # whole command line to livekit-agents instead.
        self._called_from_command_line = True
        try:
            self.execute(livekit_args=argv[2:], force_color=False, no_color=False, skip_checks=True)
        except CommandError as exc:
            self.stderr.write(str(exc))
            sys.exit(1)

    def handle(self, *args, livekit_args: list[str], **options) -> None:
        subcommand = next((arg for arg in livekit_args if not arg.startswith("-")), "")
        # `runvoiceworker start --help` only prints the subcommand's options: nothing needs a key.
        asks_for_help = any(arg in ("--help", "-h") for arg in livekit_args)
        missing = [] if asks_for_help else missing_settings(subcommand, livekit_args)
        if missing:
            raise CommandError(missing_settings_message(subcommand, missing))

        # The end-of-turn model's weights (~244 MB) are loaded once, by the forkserver, and every
        # job process shares them copy-on-write; with the model off, nothing loads them. Set before
        # anything forks (livekit.agents.ipc._preload reads it).
        os.environ["LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE"] = "1" if settings.VOICE_TURN_DETECTOR == "v1-mini" else "0"
        os.environ["LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS"] = str(settings.VOICE_LOOP_BLOCK_WARN_MS)
        from livekit.agents import cli

        from voiceworker.call_logger import CallLogger, SpoolResender
        from voiceworker.entrypoint import build_server
        from voiceworker.recordings import RecordingUploader

        server = build_server()
        if subcommand in ("start", "dev") and not asks_for_help:
            # Logs that could not be sent during earlier calls: now, then every minute.
            SpoolResender(CallLogger(api_url=settings.SONIQ_API_URL, spool_dir=settings.VOICE_SPOOL_DIR)).start()
            # Recordings too (voiceworker/recordings.py), on a thread of their own: a long upload
            # never holds up a log.
            SpoolResender(RecordingUploader(api_url=settings.SONIQ_API_URL, spool_dir=settings.VOICE_SPOOL_DIR)).start()
        if not subcommand:
            self.stdout.write(f"Soniq voice worker (agent name {settings.VOICE_AGENT_NAME!r}). "
                              f"Subcommands: {', '.join(SUBCOMMANDS)}.")
        # livekit-agents reads its command line from sys.argv (its run_app takes no argv).
        sys.argv = [f"{os.path.basename(sys.argv[0] or 'manage.py')} runvoiceworker", *livekit_args]
        cli.run_app(server)
