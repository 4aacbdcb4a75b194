"""A new business lands on a setup checklist on its home page until every step is done: number live,
hours, services or menu, a voice, a test call, notifications; each step links to its page."""
import datetime as dt
import re

from django_tenants.utils import schema_context

from backoffice.tests.factories import call_make
from core import clock
from notifications.models import NotificationSettings
from tenants.agent.models import AgentSettings
from tenants.models import PhoneNumber


def steps_on(page: str) -> dict[str, str]:
    section = re.search(r'data-testid="setup-checklist".*?</section>', page, re.S)
    if section is None:
        return {}
    return {label.strip(): state for state, label in re.findall(r'<li class="(done|todo)"><a href="[^"]*">\S+ ([^<]+)</a>',
                                                                section.group(0))}


def test_a_salon_without_a_call_a_voice_or_recipients_is_shown_what_is_left(salon_admin, settings):
    settings.LIVEKIT_URL = ""  # the SIP trunk is put together by hand: a number is all Soniq can check
    with schema_context("salon"):
        AgentSettings.objects.update(voice_id="")

    page = salon_admin.get("/admin/").content.decode()

    assert steps_on(page) == {"Phone number live": "done", "Opening hours": "done", "Services": "done",
                              "Voice chosen": "todo", "A test call made": "todo", "Notifications set": "todo"}
    assert 'href="/admin/agent/agentsettings/"' in page and "Get your phone line ready" in page


def test_a_pizzeria_is_asked_for_its_menu_not_services(pizzeria_admin):
    page = pizzeria_admin.get("/admin/").content.decode()

    assert "Menu" in steps_on(page) and "Services" not in steps_on(page)


def test_a_number_the_sip_sync_could_not_put_live_is_not_done(salon_admin, salon, monkeypatch):
    monkeypatch.setattr("tenants.sip_sync.sip_sync_enabled", lambda: True)
    PhoneNumber.objects.filter(tenant=salon).update(sip_status="not_live", sip_error="LiveKit refused the trunk")

    page = salon_admin.get("/admin/").content.decode()

    assert steps_on(page)["Phone number live"] == "todo"
    assert "LiveKit refused the trunk" in page


def test_the_checklist_goes_once_everything_is_done(salon_admin, settings):
    settings.LIVEKIT_URL = ""
    with schema_context("salon"):
        call_make(started_at=clock.now() - dt.timedelta(hours=1))
        NotificationSettings.objects.get_or_create(pk=1, defaults={"emails": ["owner@salon.example"]})

    page = salon_admin.get("/admin/").content.decode()

    assert steps_on(page) == {}
