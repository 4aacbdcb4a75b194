"""The periodic task that has the agent return queued callbacks (calls.callbacks_place_due): which
callbacks it dials and when, in the business's zone, and what it hands LiveKit. LiveKit itself is
the one thing replaced (`livekit_dispatch`, the room and the agent dispatch): the realcall module
devstack/tests/test_real_callbacks.py runs the same task against the real server."""
import datetime as dt
import json

import pytest
from django_tenants.utils import schema_context

from calls import callback_dialing
from calls.callback_dialing import callback_attempt_record, callback_grant_read
from calls.models import CallbackAttempt, CallbackRequest
from calls.services import callback_request_create
from calls.tasks import callbacks_place_due
from core import clock
from messaging.tests.test_sms_inbound import KEY, text_in
from tenants.agent.models import AgentSettings
from testing.demo_tenants import NEW_YORK

CUSTOMER = "+12125550142"
# The salon (New York) is open Tuesday 09:00–12:30 and 13:30–18:00, Thursday until 20:00, closed Monday.
TUESDAY_10AM = dt.datetime(2026, 3, 10, 10, 0, tzinfo=NEW_YORK)


@pytest.fixture(autouse=True)
def outbound_calling(settings):
    """LiveKit and the outbound trunk's carrier, as a deployment with outbound calling sets them."""
    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "ws://127.0.0.1:7880", "key", "secret"
    settings.SIP_OUTBOUND_ADDRESS = "127.0.0.1:5070"


@pytest.fixture
def dispatched(monkeypatch):
    """What LiveKit was asked for: one (room, metadata) per dispatched agent."""
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(callback_dialing, "livekit_dispatch",
                        lambda *, room, metadata: sent.append((room, json.loads(metadata))))
    return sent


@pytest.fixture
def at(monkeypatch):
    def set_now(moment: dt.datetime) -> None:
        monkeypatch.setattr(clock, "now", lambda: moment)
    set_now(TUESDAY_10AM)
    return set_now


def agent_returns_callbacks(**settings) -> None:
    with schema_context("salon"):
        AgentSettings.objects.update(agent_returns_callbacks=True, **settings)


def queued(number: str = CUSTOMER, reason: str = "a colour consultation", **fields) -> CallbackRequest:
    with schema_context("salon"):
        callback_request = callback_request_create(call=None, caller_number=number, reason=reason)
        if fields:
            CallbackRequest.objects.filter(pk=callback_request.pk).update(**fields)
        return callback_request


def run_task(django_capture_on_commit_callbacks) -> dict[str, int]:
    with django_capture_on_commit_callbacks(execute=True):
        return callbacks_place_due()


def test_it_dispatches_the_agent_into_a_new_room_with_a_grant_naming_the_attempt(
        salon, at, dispatched, django_capture_on_commit_callbacks):
    agent_returns_callbacks()
    callback_request = queued()

    assert run_task(django_capture_on_commit_callbacks) == {"salon": 1}

    ((room, metadata),) = dispatched
    grant = callback_grant_read(metadata["callback_grant"])
    assert grant.schema_name == "salon" and room.startswith("callback-")
    with schema_context("salon"):
        attempt = CallbackAttempt.objects.get(pk=grant.attempt_id)
    assert (attempt.callback_request_id, attempt.result, attempt.room) == (callback_request.pk, "dialing", room)


def test_it_never_calls_back_while_the_business_has_not_turned_it_on(salon, at, dispatched,
                                                                     django_capture_on_commit_callbacks):
    queued()

    assert run_task(django_capture_on_commit_callbacks) == {}
    assert dispatched == []
    agent_returns_callbacks()
    assert run_task(django_capture_on_commit_callbacks) == {"salon": 1}


def test_it_calls_only_once_the_promised_time_has_come(salon, at, dispatched, django_capture_on_commit_callbacks):
    agent_returns_callbacks()
    queued(call_after=TUESDAY_10AM + dt.timedelta(hours=2))

    assert run_task(django_capture_on_commit_callbacks) == {}
    at(TUESDAY_10AM + dt.timedelta(hours=2))
    assert run_task(django_capture_on_commit_callbacks) == {"salon": 1}


def test_it_keeps_to_the_calling_window_in_the_business_zone_across_the_dst_change(
        salon, at, dispatched, django_capture_on_commit_callbacks):
    agent_returns_callbacks()
    queued()

    # 13:30 UTC is 08:30 in New York on Tuesday 3 March (EST) — before the window — but 09:30 on
    # Tuesday 10 March (EDT, clocks went forward on the 8th).
    at(dt.datetime(2026, 3, 3, 13, 30, tzinfo=dt.UTC))
    assert run_task(django_capture_on_commit_callbacks) == {}
    at(dt.datetime(2026, 3, 10, 13, 30, tzinfo=dt.UTC))
    assert run_task(django_capture_on_commit_callbacks) == {"salon": 1}


def test_it_never_calls_at_night_even_while_the_business_is_open(salon, at, dispatched,
                                                                 django_capture_on_commit_callbacks):
    # Thursday the salon is open until 20:00; the business ends its calling window at 19:00.
    agent_returns_callbacks(callback_window_end_hour=19)
    queued()

    at(dt.datetime(2026, 3, 12, 19, 30, tzinfo=NEW_YORK))
    assert run_task(django_capture_on_commit_callbacks) == {}
    agent_returns_callbacks(callback_window_end_hour=20)
    assert run_task(django_capture_on_commit_callbacks) == {"salon": 1}


def test_it_never_calls_while_the_business_is_closed(salon, at, dispatched, django_capture_on_commit_callbacks):
    agent_returns_callbacks()
    queued()

    at(dt.datetime(2026, 3, 9, 11, 0, tzinfo=NEW_YORK))  # Monday: closed all day
    assert run_task(django_capture_on_commit_callbacks) == {}
    at(dt.datetime(2026, 3, 10, 12, 45, tzinfo=NEW_YORK))  # Tuesday's lunch break
    assert run_task(django_capture_on_commit_callbacks) == {}
    at(dt.datetime(2026, 3, 10, 13, 30, tzinfo=NEW_YORK))  # open again
    assert run_task(django_capture_on_commit_callbacks) == {"salon": 1}


def test_it_calls_a_number_abroad_only_when_the_business_allows_it(salon, at, dispatched,
                                                                   django_capture_on_commit_callbacks):
    agent_returns_callbacks()
    queued(number="+442079460000")

    assert run_task(django_capture_on_commit_callbacks) == {}
    agent_returns_callbacks(callback_abroad_allowed=True)
    assert run_task(django_capture_on_commit_callbacks) == {"salon": 1}


def test_it_never_calls_a_number_that_texted_stop(salon, at, dispatched, settings,
                                                  django_capture_on_commit_callbacks):
    settings.SIGNALWIRE_SIGNING_KEY = KEY
    settings.SITE_SCHEME = "https"
    agent_returns_callbacks()
    queued(number=CUSTOMER)
    assert text_in("STOP", sender=CUSTOMER).status_code == 200

    assert run_task(django_capture_on_commit_callbacks) == {}
    assert text_in("START", sender=CUSTOMER, sid="SM2").status_code == 200  # texts again: may be called again
    assert run_task(django_capture_on_commit_callbacks) == {"salon": 1}


def test_it_keeps_to_the_business_limit_of_calls_at_once(salon, at, dispatched,
                                                         django_capture_on_commit_callbacks):
    agent_returns_callbacks(callback_max_concurrent=2)
    for n in range(3):
        queued(number=f"+1212555014{n}")

    assert run_task(django_capture_on_commit_callbacks) == {"salon": 2}
    assert run_task(django_capture_on_commit_callbacks) == {}  # both lines still dialling
    with schema_context("salon"):
        first = CallbackAttempt.objects.order_by("pk").first()
        callback_attempt_record(attempt_id=first.pk, result="no_answer", now=TUESDAY_10AM)
    # One line is free: the third callback (the first is not due again for two hours).
    assert run_task(django_capture_on_commit_callbacks) == {"salon": 1}
    assert len({room for room, _ in dispatched}) == 3


def test_it_retries_an_unanswered_callback_later_up_to_the_business_limit(salon, at, dispatched,
                                                                          django_capture_on_commit_callbacks):
    agent_returns_callbacks(callback_max_attempts=2, callback_retry_minutes=30)
    callback_request = queued()

    for minutes, expected in ((0, 1), (10, 0), (30, 1), (60, 0), (600, 0)):
        at(TUESDAY_10AM + dt.timedelta(minutes=minutes))
        assert run_task(django_capture_on_commit_callbacks) == ({"salon": 1} if expected else {})
        with schema_context("salon"):
            for attempt in CallbackAttempt.objects.filter(result="dialing"):
                callback_attempt_record(attempt_id=attempt.pk, result="voicemail", now=clock.now())

    with schema_context("salon"):
        callback_request.refresh_from_db()
        results = list(callback_request.attempts.values_list("result", flat=True))
    # Two tries, then the callback stays open for a person.
    assert results == ["voicemail", "voicemail"] and callback_request.status == "open"


def test_it_closes_an_attempt_nobody_reported_and_tries_again_later(salon, at, dispatched,
                                                                    django_capture_on_commit_callbacks):
    agent_returns_callbacks(callback_retry_minutes=30)
    queued()
    assert run_task(django_capture_on_commit_callbacks) == {"salon": 1}

    at(TUESDAY_10AM + dt.timedelta(minutes=15))
    assert run_task(django_capture_on_commit_callbacks) == {}
    at(TUESDAY_10AM + dt.timedelta(minutes=45))
    assert run_task(django_capture_on_commit_callbacks) == {"salon": 1}
    with schema_context("salon"):
        assert list(CallbackAttempt.objects.order_by("pk").values_list("result", flat=True)) == ["failed", "dialing"]


def test_it_records_a_failed_attempt_when_livekit_refuses_the_dispatch(salon, at, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    def refuse(*, room, metadata):
        raise ConnectionError("LiveKit is down")

    monkeypatch.setattr(callback_dialing, "livekit_dispatch", refuse)
    agent_returns_callbacks()
    callback_request = queued()

    run_task(django_capture_on_commit_callbacks)

    with schema_context("salon"):
        (attempt,) = callback_request.attempts.all()
        callback_request.refresh_from_db()
    assert attempt.result == "failed" and "could not be dispatched" in attempt.detail
    assert callback_request.call_after == TUESDAY_10AM + dt.timedelta(minutes=120)


def test_it_places_no_call_while_outbound_calling_is_not_set_up(salon, at, dispatched, settings,
                                                                 django_capture_on_commit_callbacks):
    settings.SIP_OUTBOUND_ADDRESS = ""
    agent_returns_callbacks()
    callback_request = queued()

    assert run_task(django_capture_on_commit_callbacks) == {}
    with schema_context("salon"):
        assert not callback_request.attempts.exists()  # no try used up
