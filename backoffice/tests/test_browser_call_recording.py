"""The recording on the call page in a real Chromium: it plays, clicking a turn seeks there and
highlights it as it plays; a staff member the owner did not allow to listen gets no audio."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django_tenants.utils import schema_context

from backoffice.tests.browser import log_in, salon_url
from backoffice.tests.factories import SALON_OWNER, call_make
from calls.recordings import recording_store
from calls.tests.recording_helpers import filesystem_storage, ogg_opus
from core import clock

pytestmark = pytest.mark.browser

TURNS = [("assistant", "This call is recorded so we can serve you better. Bella Hair Studio, how can I help?"),
         ("user", "Hi, I'd like a haircut on Friday."),
         ("assistant", "Friday at three is free. Shall I book it?"),
         ("user", "Yes please.")]


@pytest.fixture
def recorded_call(api_server, committed_db, settings, tmp_path):
    filesystem_storage(settings, tmp_path / "recordings")
    with schema_context("salon"):
        # Turns at 0, 4, 8 and 12 s into the call; the recording starts 0.5 s into it and lasts 14 s.
        call = call_make(started_at=clock.now() - dt.timedelta(minutes=3), duration_seconds="14.5", turns=TURNS,
                         tools=[("check_availability", {"service": "Haircut"}, {"ok": True}, 9)])
        recording_store(call=call, audio=ogg_opus(seconds=14.0), started_offset_seconds=0.5)
    return call


PLAYER = "document.querySelector('[data-testid=recording-player]')"


def player_time(page) -> float:
    return page.evaluate(f"{PLAYER}.currentTime")


def until(page, expression: str, seconds: float = 20) -> None:
    """Poll a page expression (Playwright's wait_for_function evaluates strings, which the admin's CSP forbids)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        page.wait_for_timeout(100)


def test_the_player_plays_and_seeks_by_transcript_turn(page, recorded_call, api_server, screenshot_dir):
    log_in(page, salon_url(api_server), *SALON_OWNER)
    page.goto(f"{salon_url(api_server)}/admin/calls/call/{recorded_call.pk}/change/")
    until(page, f"{PLAYER}.readyState >= 1")
    assert abs(page.evaluate(f"{PLAYER}.duration") - 14.0) < 0.2

    # The third turn was said 8 s into the call: 7.5 s into the recording.
    page.locator(".soniq-turn", has_text="Friday at three is free").click()
    until(page, f"!{PLAYER}.paused")
    assert 7.4 <= player_time(page) <= 8.5
    playing = page.locator(".soniq-turn.soniq-playing")
    assert playing.count() == 1 and "Friday at three is free" in playing.inner_text()
    # It plays on: past the next turn (12 s into the call), the highlight follows.
    until(page, f"{PLAYER}.currentTime > 11.7")
    page.wait_for_selector(".soniq-turn.soniq-playing >> text=Yes please.")
    page.screenshot(path=str(screenshot_dir / "screenshot-call-recording.png"), full_page=True)

    # The tool call sits at its moment (9 s), between the turns it came between, and seeks too.
    tool = page.locator('[data-testid="tool-call"]')
    assert tool.get_attribute("data-at") == "9.00"
    page.locator('[data-testid="tool-call"] summary').click()
    until(page, f"Math.abs({PLAYER}.currentTime - 8.5) < 0.6")
    order = page.eval_on_selector_all(".soniq-conversation > *", "els => els.map(el => el.dataset.at)")
    assert order == ["0.00", "4.00", "8.00", "9.00", "12.00"]


def test_staff_without_the_permission_get_no_audio(page, recorded_call, api_server):
    with schema_context("salon"):
        clerk = get_user_model().objects.create_user(username="desk2@salon.example", password="desk-pass-2026",
                                                     is_staff=True)
        group, _ = Group.objects.get_or_create(name="Counter (no recordings)")
        group.permissions.set(Permission.objects.filter(content_type__app_label="calls", codename="view_call"))
        clerk.groups.add(group)

    log_in(page, salon_url(api_server), "desk2@salon.example", "desk-pass-2026")
    page.goto(f"{salon_url(api_server)}/admin/calls/call/{recorded_call.pk}/change/")

    page.wait_for_selector("text=Listening to recordings needs the owner's permission.")
    assert page.locator("audio").count() == 0
    assert page.locator("text=Hi, I'd like a haircut on Friday.").count() == 1
    # Asked for directly, with the clerk's session: refused.
    status = page.evaluate(f"fetch('/admin/calls/call/{recorded_call.pk}/recording/').then(r => r.status)")
    assert status == 403
