"""Fixtures every tenants test module may use (defined in sip_fixtures.py)."""
from tenants.tests.sip_fixtures import livekit_sip, queued_syncs, sip_settings  # noqa: F401 - fixtures
