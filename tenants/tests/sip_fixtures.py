"""Fixtures for tests of the LiveKit SIP sync: a local SIP service, the settings that point Soniq at
it, and the syncs that would have gone to the broker. Import the fixtures you use into the test module."""
from __future__ import annotations

import pytest

from tenants.models import PhoneNumber, SipTrunkStatus
from tenants.tasks import sip_trunk_sync
from tenants.tests.livekit_sip_fake import FakeLiveKitSip

TRUNK, RULE = "soniq-inbound", "soniq-agent"
DEMO_NUMBERS = {"+15550100001", "+493055500002"}


@pytest.fixture
def livekit_sip():
    fake = FakeLiveKitSip()
    yield fake
    fake.stop()


@pytest.fixture
def sip_settings(settings, livekit_sip) -> FakeLiveKitSip:
    """Soniq manages the trunk TRUNK on `livekit_sip`, with digest credentials for SignalWire;
    a sync is tried three times, without waiting in between."""
    for name, value in livekit_sip.settings().items():
        setattr(settings, name, value)
    settings.LIVEKIT_SIP_TRUNK_NAME = TRUNK
    settings.LIVEKIT_SIP_DISPATCH_RULE_NAME = RULE
    settings.LIVEKIT_SIP_AUTH_USERNAME, settings.LIVEKIT_SIP_AUTH_PASSWORD = "signalwire", "trunk-secret-2026"
    settings.LIVEKIT_SIP_ALLOWED_ADDRESSES = []
    settings.LIVEKIT_SIP_ROOM_PREFIX = "call-"
    settings.VOICE_AGENT_NAME = "soniq"
    settings.LIVEKIT_SIP_SYNC_MAX_RETRIES, settings.LIVEKIT_SIP_RETRY_BACKOFF_MS = 2, 0
    return livekit_sip


@pytest.fixture
def queued_syncs(monkeypatch) -> list[str]:
    """Syncs handed to the broker (one entry each), instead of the broker."""
    queued: list[str] = []
    monkeypatch.setattr(sip_trunk_sync, "delay", lambda: queued.append("sync"))
    return queued


def run_queued_syncs(queued: list[str]) -> list[str]:
    """Run each queued sync as a worker would (retries inline); their results."""
    results = [sip_trunk_sync.apply().get() for _ in queued]
    queued.clear()
    return results


def sip_state_reset() -> None:
    """Forget what committed tests recorded: numbers back to "waiting", no trunk status."""
    PhoneNumber.objects.exclude(tenant__schema_name__in=["salon", "pizzeria"]).delete()
    PhoneNumber.objects.update(sip_status=PhoneNumber.SipStatus.PENDING, sip_error="", sip_checked_at=None)
    SipTrunkStatus.objects.all().delete()
