"""The callback queue: open requests first, one click marks one done and records who and when."""
import datetime as dt

from django_tenants.utils import schema_context

from backoffice.tests.factories import call_make
from calls.callbacks import callback_request_mark_done
from calls.models import CallbackRequest
from calls.services import callback_request_create
from core import clock

FIXED_NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


def test_it_marks_a_callback_done_once_and_keeps_the_first_handler(salon, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: FIXED_NOW)
    with schema_context("salon"):
        request = callback_request_create(call=None, caller_number="+15550123456", reason="Colour consultation")

        done = callback_request_mark_done(callback_request_id=request.pk, handled_by="Anna")
        again = callback_request_mark_done(callback_request_id=request.pk, handled_by="Marco")

        assert (done.status, done.handled_by, done.done_at) == ("done", "Anna", FIXED_NOW)
        assert (again.handled_by, again.done_at) == ("Anna", FIXED_NOW)


def test_it_lists_open_callbacks_by_default(salon_admin):
    with schema_context("salon"):
        callback_request_create(call=None, caller_number="+15550123456", reason="Wants a colour consultation")
        handled = callback_request_create(call=None, caller_number="+15550111111", reason="Asked about parking")
        callback_request_mark_done(callback_request_id=handled.pk, handled_by="Anna")

    page = salon_admin.get("/admin/calls/callbackrequest/").content.decode()

    assert "Wants a colour consultation" in page and "Mark done" in page
    assert "Asked about parking" not in page
    done_page = salon_admin.get("/admin/calls/callbackrequest/?queue=done").content.decode()
    assert "Asked about parking" in done_page and "Anna" in done_page


def test_it_marks_a_callback_done_with_one_click_recording_the_user(salon_admin, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: FIXED_NOW)
    with schema_context("salon"):
        call = call_make(started_at=FIXED_NOW - dt.timedelta(hours=1))
        request = callback_request_create(call=call, caller_number="+15550123456", reason="Colour consultation")

    response = salon_admin.post(f"/admin/calls/callbackrequest/{request.pk}/done/",
                                {"next": "/admin/calls/callbackrequest/"})

    assert response.status_code == 302 and response.headers["Location"] == "/admin/calls/callbackrequest/"
    assert "Marked done: call back +1 555-012-3456." in salon_admin.get("/admin/calls/callbackrequest/").content.decode()
    with schema_context("salon"):
        request.refresh_from_db()
    assert (request.status, request.handled_by, request.done_at) == ("done", "owner@salon.example", FIXED_NOW)


def test_it_reopens_a_callback(salon_admin):
    with schema_context("salon"):
        request = callback_request_create(call=None, caller_number="+15550123456", reason="Colour consultation")
        callback_request_mark_done(callback_request_id=request.pk, handled_by="Anna")

    salon_admin.post(f"/admin/calls/callbackrequest/{request.pk}/reopen/")

    with schema_context("salon"):
        request.refresh_from_db()
    assert (request.status, request.handled_by, request.done_at) == ("open", "", None)


def test_it_marks_several_done_with_an_action(salon_admin):
    with schema_context("salon"):
        ids = [callback_request_create(call=None, caller_number=f"+1555012345{n}", reason="Call me").pk for n in range(3)]

    response = salon_admin.post("/admin/calls/callbackrequest/", {"action": "mark_done", "_selected_action": ids[:2]},
                                follow=True)

    assert "Marked 2 callbacks done." in response.content.decode()
    with schema_context("salon"):
        assert sorted(CallbackRequest.objects.filter(status="done").values_list("pk", flat=True)) == sorted(ids[:2])


def test_it_shows_the_request_with_a_mark_done_button_and_the_call(salon_admin):
    with schema_context("salon"):
        call = call_make(started_at=FIXED_NOW)
        request = callback_request_create(call=call, caller_number="+15550123456", reason="Colour consultation",
                                          caller_name="Maria Lopez")

    page = salon_admin.get(f"/admin/calls/callbackrequest/{request.pk}/change/").content.decode()

    assert "Maria Lopez" in page and "Colour consultation" in page
    assert f'action="/admin/calls/callbackrequest/{request.pk}/done/"' in page
    assert f"/admin/calls/call/{call.pk}/change/" in page
    assert salon_admin.post(f"/admin/calls/callbackrequest/{request.pk}/change/", {"reason": "x"}).status_code == 403


def test_it_marks_done_only_by_post(salon_admin):
    with schema_context("salon"):
        request = callback_request_create(call=None, caller_number="+15550123456", reason="Call me")
    assert salon_admin.get(f"/admin/calls/callbackrequest/{request.pk}/done/").status_code == 405


def test_it_shows_each_call_the_agent_made_and_how_it_ended_on_the_callback_page(salon_admin, monkeypatch):
    from calls.callback_dialing import callback_attempt_record, callback_call_start
    from calls.models import CallbackAttempt

    monkeypatch.setattr(clock, "now", lambda: FIXED_NOW)
    with schema_context("salon"):
        request = callback_request_create(call=None, caller_number="+15550123456", reason="Colour consultation")
        first = CallbackAttempt.objects.create(callback_request=request, room="callback-1", started_at=FIXED_NOW)
        _, call = callback_call_start(attempt_id=first.pk, room="callback-1", now=FIXED_NOW)
        callback_attempt_record(attempt_id=first.pk, result="voicemail", detail="A 7 s greeting; the message was left.",
                                now=FIXED_NOW)

    page = salon_admin.get(f"/admin/calls/callbackrequest/{request.pk}/change/").content.decode()

    assert "The agent&#x27;s calls" in page or "The agent's calls" in page
    assert "Voicemail: message left" in page and "A 7 s greeting; the message was left." in page
    assert f"/admin/calls/call/{call.pk}/change/" in page
    # The next try, two hours later in the business's zone (11:00 in New York, EDT, then 1 PM).
    assert "Not before Today, 1:00 PM" in page


def test_it_marks_a_number_not_to_be_called_and_the_agent_never_dials_it(salon_admin, monkeypatch, settings,
                                                                         django_capture_on_commit_callbacks):
    from calls import callback_dialing
    from calls.tasks import callbacks_place_due
    from tenants.agent.models import AgentSettings

    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "ws://127.0.0.1:7880", "key", "secret"
    settings.SIP_OUTBOUND_ADDRESS = "127.0.0.1:5070"

    dispatched = []
    monkeypatch.setattr(callback_dialing, "livekit_dispatch", lambda **kwargs: dispatched.append(kwargs))
    monkeypatch.setattr(clock, "now", lambda: FIXED_NOW)  # Tuesday 11:00 in New York: open
    with schema_context("salon"):
        AgentSettings.objects.update(agent_returns_callbacks=True)
        request = callback_request_create(call=None, caller_number="+15550123456", reason="Colour consultation")
        later = callback_request_create(call=None, caller_number="+15550123456", reason="Asked again")

    response = salon_admin.post(f"/admin/calls/callbackrequest/{request.pk}/do-not-call/",
                                {"next": f"/admin/calls/callbackrequest/{request.pk}/change/"}, follow=True)

    page = response.content.decode()
    assert "+1 555-012-3456 will not be called again." in page and "Asked not to be called" in page
    with schema_context("salon"):
        assert set(CallbackRequest.objects.filter(pk__in=[request.pk, later.pk]).values_list("status", flat=True)) == {"done"}
        callback_request_create(call=None, caller_number="+15550123456", reason="Third time")
    with django_capture_on_commit_callbacks(execute=True):
        assert callbacks_place_due() == {}
    assert dispatched == []
    with schema_context("salon"):
        callback_request_create(call=None, caller_number="+15550111111", reason="Someone else")
    with django_capture_on_commit_callbacks(execute=True):
        assert callbacks_place_due() == {"salon": 1}  # the agent does call other customers


def test_it_lets_only_who_works_the_queue_mark_a_number_not_to_be_called(salon):
    from backoffice.tests.test_admin_dashboard_permissions import staff_client
    from calls.models import DoNotCall

    with schema_context("salon"):
        request = callback_request_create(call=None, caller_number="+15550123456", reason="Colour consultation")
    viewer = staff_client("callback-viewer", permissions=["calls.view_callbackrequest"])

    assert viewer.post(f"/admin/calls/callbackrequest/{request.pk}/do-not-call/").status_code == 403
    with schema_context("salon"):
        assert not DoNotCall.objects.exists()
