"""The real call path, shared by every `realcall` test of a run: LiveKit's server and SIP bridge (built at
their pins), gunicorn, a Celery worker and the production voice worker, all on this run's test database
and Redis, with the provider stand-ins. The trunk and dispatch rule are made by Soniq's own `sip_sync`.

Run them alone with `pytest -m realcall` (`make test` runs them as a second pytest session, after the
rest): the Celery worker of a session is started once, and here it must know the local line.
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django_tenants.utils import schema_context

from devstack.livekit import LineConfig, LocalLine, ToolMissing
from devstack.phone import PhoneMissing, SipPhone, free_sip_port
from devstack.processes import ChildProcess, gunicorn, voice_worker
from devstack.standins import ProviderStandIns, ReceptionistTurns
from soniq_site.settings import recordings_storage_config
from testing import celery_worker
from testing.celery_worker import database_url_for_test_db

TRUNK_NAME, RULE_NAME = "soniq-local", "soniq-agent"


def _or_fail(exc: Exception) -> None:
    # Under CI the real call path must run: a missing tool fails, never skips.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(str(exc))
    pytest.skip(str(exc))


@dataclass
class Platform:
    line: LocalLine
    providers: ProviderStandIns
    web: ChildProcess
    web_url: str
    worker: ChildProcess
    env: dict[str, str]
    # Where the outbound trunk sends the calls the agent places (the carrier, SignalWire in production):
    # a test that needs a called party starts `carrier_phone` there (tests run one at a time).
    carrier_port: int = 0

    def phone(self, number: str = "+15559990001", **kwargs) -> SipPhone:
        return SipPhone(number=number, **kwargs).start()

    def carrier_phone(self, number: str, **kwargs) -> SipPhone:
        """The phone the agent's outbound calls reach (any number dialled rings it)."""
        return SipPhone(number=number, sip_port=self.carrier_port, **kwargs).start()

    def dial_uri(self, number: str) -> str:
        return f"sip:{number}@{self.line.config.sip_address}"

    def restart_worker_if_gone(self) -> None:
        if not self.worker.running():
            self.worker.stop()
            self.worker = voice_worker(self.env)


def _redis_url_for_line() -> str:
    """The run's Redis, database 3, so LiveKit's keys sit apart from Celery's."""
    base = settings.REDIS_URL.rsplit("/", 1)[0] if settings.REDIS_URL.count("/") > 2 else settings.REDIS_URL
    return f"{base}/3"


@pytest.fixture(scope="session")
def local_line(django_db_setup) -> Iterator[LocalLine]:
    try:
        line = LocalLine(LineConfig.free(redis_url=_redis_url_for_line())).start()
    except ToolMissing as exc:
        _or_fail(exc)
    yield line
    line.stop()


@pytest.fixture(scope="session")
def providers() -> Iterator[ProviderStandIns]:
    standins = ProviderStandIns()
    yield standins
    standins.stop()


@pytest.fixture(scope="session")
def platform(request, local_line, providers, django_db_setup, django_db_blocker, tmp_path_factory
             ) -> Iterator[Platform]:
    try:
        subprocess.run(["baresip", "-h"], capture_output=True, check=False)
    except FileNotFoundError as exc:
        _or_fail(PhoneMissing(f"{exc}: install Debian's baresip-core"))
    carrier_port = free_sip_port()
    sip = {
        **local_line.config.settings(),
        "SIP_OUTBOUND_ADDRESS": f"127.0.0.1:{carrier_port}", "SIP_OUTBOUND_TRANSPORT": "udp",
        "LIVEKIT_SIP_TRUNK_NAME": TRUNK_NAME, "LIVEKIT_SIP_DISPATCH_RULE_NAME": RULE_NAME,
        "LIVEKIT_SIP_ALLOWED_ADDRESSES": "127.0.0.1", "LIVEKIT_SIP_ROOM_PREFIX": "call-",
        "LIVEKIT_SIP_RETRY_BACKOFF_MS": "200", "VOICE_AGENT_NAME": "soniq",
        # Recordings land where gunicorn stores them and the tests read them: this run's own folder.
        "RECORDINGS_ROOT": str(tmp_path_factory.mktemp("recordings")), "RECORDINGS_S3_BUCKET": "",
    }
    # This process (admin saves queue the sync after commit) and every child see the same line and storage.
    recordings = recordings_storage_config(root=sip["RECORDINGS_ROOT"], bucket="")
    overrides = override_settings(**{**sip, "LIVEKIT_SIP_ALLOWED_ADDRESSES": ["127.0.0.1"],
                                     "LIVEKIT_SIP_RETRY_BACKOFF_MS": 200},
                                  STORAGES={**settings.STORAGES, "recordings": recordings})
    overrides.enable()
    if celery_worker.started_workers:
        pytest.fail("a Celery worker was started before the real-call platform: run realcall tests in their "
                    "own session (`pytest -m realcall`), as `make test` does")
    celery_worker.EXTRA_WORKER_ENV.update(sip)
    request.getfixturevalue("celery_worker_process")
    env = {**os.environ, "DATABASE_URL": database_url_for_test_db(), "REDIS_URL": settings.REDIS_URL, "DEBUG": "1",
           "INTERNAL_API_TOKEN": "test-internal-token", "PYTHONUNBUFFERED": "1", **sip, **providers.settings()}
    web, web_url = gunicorn(env)
    env["SONIQ_API_URL"] = web_url
    try:
        with django_db_blocker.unblock():
            call_command("sip_sync", verbosity=0)  # the real Twirp API of the local server
        worker = voice_worker(env)
    except BaseException:
        web.stop()
        overrides.disable()
        raise
    platform = Platform(line=local_line, providers=providers, web=web, web_url=web_url, worker=worker, env=env,
                        carrier_port=carrier_port)
    try:
        yield platform
    finally:
        platform.worker.stop()
        web.stop()
        overrides.disable()


@pytest.fixture
def call_script(providers):
    """Set what the stand-ins hear and decide for the next call; restored afterwards."""
    saved = (providers.turns, list(providers.transcripts), providers.first_token_seconds)

    def configure(*, transcripts: list[str], turns=None, first_token_seconds: float = 0.0) -> None:
        providers.transcripts[:] = transcripts
        providers.turns = turns or ReceptionistTurns()
        providers.first_token_seconds = first_token_seconds

    yield configure
    providers.turns, providers.transcripts[:], providers.first_token_seconds = saved[0], saved[1], saved[2]


@pytest.fixture
def staff_transfers(committed_db):
    """The salon takes transfers all day today, on a staff phone the test starts; restored afterwards."""
    from tenants.agent.models import AgentSettings, EscalationHours

    with schema_context("salon"):
        settings_row = AgentSettings.objects.get()
        saved_target, saved_ringing = settings_row.transfer_to, settings_row.transfer_ringing_seconds
        saved_hours = list(EscalationHours.objects.values("weekday", "starts", "ends"))

    def take_transfers_at(uri: str) -> None:
        with schema_context("salon"):
            # Rung 8 s (the business's setting), so an unanswered transfer does not wait out 18 s.
            AgentSettings.objects.filter(pk=settings_row.pk).update(transfer_to=uri, transfer_ringing_seconds=8)
            EscalationHours.objects.all().delete()
            for weekday in range(7):
                EscalationHours.objects.create(weekday=weekday, starts=dt.time(0, 0), ends=dt.time(23, 59, 59))

    yield take_transfers_at
    with schema_context("salon"):
        AgentSettings.objects.filter(pk=settings_row.pk).update(transfer_to=saved_target,
                                                                transfer_ringing_seconds=saved_ringing)
        EscalationHours.objects.all().delete()
        EscalationHours.objects.bulk_create(EscalationHours(**hours) for hours in saved_hours)
