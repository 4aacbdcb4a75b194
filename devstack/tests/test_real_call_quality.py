"""A call that sounds right on a real phone line (issue 21), through the real LiveKit SIP bridge into the
production voice worker, as `test_real_calls.py` runs it: a baresip phone plays the caller's lines from a
WAV and records what it hears; the stand-ins record what was transcribed, asked of the model and
synthesized; the platform stores the call.

- a backchannel ("mm-hmm") or a noise while the agent speaks does not stop it; "no, wait, Thursday"
  does (item 2);
- a caller who speaks as the greeting starts is heard (no echo-cancellation warm-up, item 3);
- the greeting starts at the answer and is heard whole, ring time is not talk time, the carrier's
  Call-ID is kept (item 4);
- keypad presses (RFC 2833 DTMF from the phone): digits reach the model as the caller's words, the
  operator key reaches a person (item 7);
- each generated reply, and no fixed sentence, stores what the caller waited (item 10).
"""
from __future__ import annotations

import re
import signal
import time
from typing import Any

import pytest
from django_tenants.utils import schema_context

from devstack.audio import Script, Segment, speak, speech_segments
from devstack.standins import ReceptionistTurns, last_user_text
from devstack.tests.test_real_calls import SALON_NUMBER, wait_for

pytestmark = [pytest.mark.realcall]

PHONE_RATE = 8000  # PCMU: what the phone hears and plays
# A reply long enough (about 18 s of speech) that the caller can speak in the middle of it.
LONG_REPLY = ("We offer haircuts for women, men and children, colouring and highlights, blow drying and styling, "
              "and treatments for damaged hair. A haircut takes about forty five minutes and colouring about two "
              "hours, and we are open from ten in the morning until seven in the evening, Tuesday to Saturday.")
BARGE_IN_REPLY = "Thursday, sure. What time on Thursday suits you?"
ASK_FOR_NUMBER = "Sure. What number should we call? You can type it on your keypad, then press the pound key."


class QualityTurns(ReceptionistTurns):
    """The receptionist, plus a long answer about the services, an answer to "Thursday", and a
    request for a number the caller may type."""

    def __call__(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        said = last_user_text(messages).lower()
        if "services" in said:
            return {"content": LONG_REPLY}
        if "thursday" in said:
            return {"content": BARGE_IN_REPLY}
        if "call me back" in said:
            return {"content": ASK_FOR_NUMBER}
        if "typed on the keypad" in said:
            digits = re.sub(r"\D", "", said)
            return {"content": f"Thanks, I have {' '.join(digits)}."}
        return super().__call__(messages)


def stored_log(schema: str, *, caller: str, timeout: float = 40.0):
    """The caller's last call once its whole log (turns, latency) is stored."""
    from calls.models import Call

    def find():
        with schema_context(schema):
            call = Call.objects.filter(caller_number=caller).order_by("-started_at").first()
            return call if call is not None and call.log_stored_at is not None else None

    return wait_for(find, timeout=timeout, what=f"the stored log of {caller}'s call")


def stored_turns(call) -> list:
    with schema_context("salon"):
        return list(call.turns.order_by("sequence"))


def spoken_seconds(text: str) -> float:
    """How long `text` takes to say in the stand-in's voice: its speech, without espeak-ng's padding."""
    samples = speak(text, rate=PHONE_RATE)
    inner = speech_segments(samples, PHONE_RATE)
    return inner[-1].end - inner[0].start if inner else 0.0


def greeting_text() -> str:
    from tenants.agent.models import AgentSettings

    with schema_context("salon"):
        return AgentSettings.objects.get().greeting


def user_texts(requests: list[dict[str, Any]]) -> list[str]:
    return [last_user_text(request.get("messages") or []) for request in requests]


def heard_between(segments: list[Segment], start: float, end: float) -> list[Segment]:
    """The parts of the recording's speech that start inside [start, end)."""
    return [segment for segment in segments if start <= segment.start < end]


def said_over(reply: list[Segment], line: Segment) -> bool:
    """Whether the caller's `line` fell inside the agent's `reply` (its speech started before the line
    and went on after it; a pause between its words may fall under the line)."""
    return bool(reply) and reply[0].start < line.start and reply[-1].end > line.end


def test_the_greeting_starts_at_the_answer_is_heard_whole_and_ring_time_is_not_talk_time(
        platform, call_script, committed_db, tmp_path):
    caller = "+15559990101"
    greeting = greeting_text()
    call_script(transcripts=["What time do you open tomorrow?", "That's all, thank you, bye."],
                turns=QualityTurns(goodbye_outcome="answered"))
    first_line_at = spoken_seconds(greeting) + 4.0
    wav, lines = Script([(first_line_at, "What time do you open tomorrow?"),
                         (6.0, "That is all, thank you, bye.")]).render(tmp_path / "caller.wav")
    providers = platform.providers
    spoken_mark, requests_mark, heard_mark = len(providers.spoken), len(providers.chat_requests), len(providers.heard)
    phone = platform.phone(caller, audio=wav)
    try:
        # The phone rings a few seconds before the call is answered: the worker takes the job only
        # after it is let go (the bridge answers once the agent's job has joined the room and
        # subscribed to the caller's audio).
        platform.worker.signal(signal.SIGSTOP)
        try:
            phone.dial(platform.dial_uri(SALON_NUMBER))
            time.sleep(3.0)
        finally:
            platform.worker.signal(signal.SIGCONT)
        established = phone.wait_event("CALL_ESTABLISHED", timeout=30)
        phone.wait_received("BYE", timeout=60)
        closed = phone.wait_event("CALL_CLOSED", timeout=10)
    finally:
        platform.worker.signal(signal.SIGCONT)
        phone.stop()

    answered = next(message for message in phone.received(200) if "INVITE" in message.headers.get("cseq", ""))
    rang = established["at"] - phone.dialled_at
    assert rang >= 3.0  # the precondition: it rang while the worker was held

    # The greeting was synthesized once, whole, before the caller spoke.
    first_heard_at = providers.heard[heard_mark][0]
    greeting_spoken = [text for at, text in providers.spoken[spoken_mark:] if at < first_heard_at]
    assert " ".join(greeting_spoken).split() == greeting.split(), (greeting_spoken, providers.spoken[spoken_mark:])
    # ...and the caller heard all of it: their recording (it starts at the answer) begins with the
    # greeting's first syllable, not part-way in, and carries its whole length before their line.
    heard, rate = phone.heard()
    speech = speech_segments(heard, rate)
    greeting_heard = heard_between(speech, 0.0, lines[0].start)
    assert greeting_heard and greeting_heard[0].start < 3.0
    expected = sum(spoken_seconds(sentence) for sentence in greeting_spoken)
    assert greeting_heard[-1].end - greeting_heard[0].start >= expected - 0.3, (greeting_heard, expected)

    call = stored_log("salon", caller=caller)
    # The carrier's Call-ID, as the phone saw it, is on the call for carrier tickets.
    assert call.sip_call_id_full == answered.headers["call-id"]
    # Talk time runs from the answer to the hang-up; the seconds it rang are not in it.
    talk = closed["at"] - established["at"]
    assert abs(float(call.duration_seconds) - talk) <= 1.0, (call.duration_seconds, talk)
    assert float(call.duration_seconds) < closed["at"] - phone.dialled_at - 2.0

    # Item 10: each generated reply stores the wait the caller felt; the greeting stores none.
    turns = stored_turns(call)
    latency = call.metrics["latency"]
    replies = [index for index, turn in enumerate(turns)
               if turn.role == "assistant" and index > 0 and turns[index - 1].role == "user"]
    assert [turn.role for turn in turns][:1] == ["assistant"]  # the greeting
    assert sorted(entry["turn"] for entry in latency) == replies and len(replies) == 2
    for entry in latency:
        assert entry["e2e_latency_ms"] is not None and entry["e2e_latency_ms"] > 0
        assert entry["transcription_delay_ms"] is not None
    assert call.avg_e2e_latency_ms is not None
    assert user_texts(providers.chat_requests[requests_mark:])[0] == "What time do you open tomorrow?"


def test_a_caller_who_speaks_as_the_greeting_starts_is_heard_and_answered(platform, call_script, committed_db,
                                                                          tmp_path):
    caller = "+15559990102"
    call_script(transcripts=["What time do you open tomorrow?", "That's all, thank you, bye."],
                turns=QualityTurns(goodbye_outcome="answered"))
    # The caller talks over the start of the greeting (it starts within a second or two of the answer).
    wav, lines = Script([(1.0, "What time do you open tomorrow?"),
                         (8.0, "That is all, thank you, bye.")]).render(tmp_path / "caller.wav")
    requests_mark = len(platform.providers.chat_requests)
    phone = platform.phone(caller, audio=wav)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        phone.wait_event("CALL_ESTABLISHED", timeout=30)
        phone.wait_received("BYE", timeout=60)
    finally:
        phone.stop()

    heard, rate = phone.heard()
    speech = speech_segments(heard, rate)
    # The precondition: the caller spoke within the greeting's first seconds (where the
    # echo-cancellation warm-up used to replace their voice with silence for 3 s).
    assert speech and lines[0].start < speech[0].start + 2.0 and lines[0].end > speech[0].start, (speech, lines)
    # They were heard: the model got their words, and they heard an answer after them.
    assert user_texts(platform.providers.chat_requests[requests_mark:])[0] == "What time do you open tomorrow?"
    assert heard_between(speech, lines[0].end, lines[1].start)
    call = stored_log("salon", caller=caller)
    assert [turn.text for turn in stored_turns(call) if turn.role == "user"][0] == "What time do you open tomorrow?"


def long_reply_call(platform, call_script, tmp_path, *, caller: str, over_the_reply: list[tuple[float, str, str]],
                    after: float) -> tuple[Any, list[Segment], list[Segment], int]:
    """A call where the caller asks about the services (the long reply), says each of `over_the_reply`
    ((seconds after the previous line, what they say, what the transcriber hears)) from 7 s after
    their question, then goodbye `after` s later. Returns the call, the caller's lines, the speech in
    their recording and where the stand-ins' requests began."""
    call_script(transcripts=["What services do you offer?", *(heard for _, _, heard in over_the_reply),
                             "Okay, thanks, bye."], turns=QualityTurns(goodbye_outcome="answered"))
    wav, lines = Script([(spoken_seconds(greeting_text()) + 4.0, "What services do you offer?"),
                         *((pause, said) for pause, said, _ in over_the_reply),
                         (after, "Okay thanks, bye.")]).render(tmp_path / "caller.wav")
    requests_mark = len(platform.providers.chat_requests)
    phone = platform.phone(caller, audio=wav)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        phone.wait_event("CALL_ESTABLISHED", timeout=30)
        phone.wait_received("BYE", timeout=90)
    finally:
        phone.stop()
    heard, rate = phone.heard()
    return stored_log("salon", caller=caller), lines, speech_segments(heard, rate), requests_mark


def test_a_backchannel_or_a_noise_while_the_agent_speaks_does_not_stop_it(platform, call_script, committed_db,
                                                                          tmp_path):
    # A noise (a cough, a door) is sound the transcriber hears no word in.
    call, lines, speech, requests_mark = long_reply_call(
        platform, call_script, tmp_path, caller="+15559990103",
        over_the_reply=[(7.0, "mm hmm", "Mm-hmm."), (2.5, "ahem", "")], after=14.0)
    question, backchannel, noise, goodbye = lines
    reply = heard_between(speech, question.end, goodbye.start)
    # The precondition: the caller's "mm-hmm" and the noise fell in the middle of the agent's long reply.
    assert said_over(reply, backchannel) and said_over(reply, noise), (speech, lines)

    # The reply played to its end: the agent's speech between the question and the goodbye is as
    # long as the whole reply takes to say.
    expected = sum(spoken_seconds(sentence) for sentence in re.split(r"(?<=\.) ", LONG_REPLY))
    assert reply[-1].end - reply[0].start >= expected - 0.5, (reply, expected)
    # Neither was a turn: the model was asked about the question and the goodbye only.
    assert user_texts(platform.providers.chat_requests[requests_mark:]) == ["What services do you offer?",
                                                                           "Okay, thanks, bye."]
    turns = stored_turns(call)
    (long_reply,) = [turn for turn in turns if turn.text.startswith("We offer haircuts")]
    assert not long_reply.interrupted and long_reply.text == LONG_REPLY
    assert [turn.text for turn in turns if turn.role == "user"] == ["What services do you offer?", "Okay, thanks, bye."]


def test_a_caller_who_barges_in_stops_the_agent_and_is_answered(platform, call_script, committed_db, tmp_path):
    call, lines, speech, requests_mark = long_reply_call(
        platform, call_script, tmp_path, caller="+15559990104",
        over_the_reply=[(7.0, "no wait thursday", "No, wait, Thursday.")], after=8.0)
    question, barge_in, goodbye = lines
    reply = heard_between(speech, question.end, barge_in.start)
    expected = sum(spoken_seconds(sentence) for sentence in re.split(r"(?<=\.) ", LONG_REPLY))
    # The precondition: the long reply had started, and would have gone on well past their words.
    assert reply and reply[0].start + expected > barge_in.end + 4.0, (speech, lines)

    # The long reply was cut short: the caller heard far less of it than it takes to say...
    stopped = max(segment.end for segment in speech if segment.start < barge_in.end)
    assert stopped - reply[0].start < expected - 4.0, (speech, lines, expected)
    # ...then heard the answer to what they said, before their goodbye.
    assert heard_between(speech, barge_in.end, goodbye.start)
    assert user_texts(platform.providers.chat_requests[requests_mark:])[:2] == ["What services do you offer?",
                                                                               "No, wait, Thursday."]
    turns = stored_turns(call)
    (long_reply,) = [turn for turn in turns if turn.text.startswith("We offer haircuts")]
    assert long_reply.interrupted and len(long_reply.text) < len(LONG_REPLY)
    assert [turn.text for turn in turns].index(BARGE_IN_REPLY) > turns.index(long_reply)


def test_keypad_digits_reach_the_model_and_the_operator_key_reaches_a_person(platform, call_script, staff_transfers,
                                                                             tmp_path):
    caller = "+15559990105"
    staff = platform.phone("+15550100900", answer="auto")
    staff_transfers(f"sip:+15550100900@{staff.address}")
    call_script(transcripts=["Can you call me back later?"], turns=QualityTurns())
    wav, lines = Script([(spoken_seconds(greeting_text()) + 4.0, "Can you call me back later?")]).render(
        tmp_path / "caller.wav")
    providers = platform.providers
    spoken_mark, requests_mark = len(providers.spoken), len(providers.chat_requests)
    phone = platform.phone(caller, audio=wav)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        phone.wait_event("CALL_ESTABLISHED", timeout=30)
        # The agent asks for a number; the caller types it, then "#".
        wait_for(lambda: any("What number" in text for _, text in providers.spoken[spoken_mark:]), timeout=40,
                 what="the agent to ask for a number")
        phone.press("5550123#")
        wait_for(lambda: any(text.startswith("Thanks, I have") for _, text in providers.spoken[spoken_mark:]),
                 timeout=30, what="the agent to read the typed number back")
        time.sleep(3.0)  # the read-back plays
        phone.press("0")
        refer = phone.wait_received("REFER", timeout=30)
        assert refer.headers.get("refer-to", "").strip("<>").startswith(f"sip:+15550100900@{staff.address}")
        staff.wait_event("CALL_ESTABLISHED", timeout=20)
    finally:
        phone.stop()
        staff.stop()

    asked = user_texts(providers.chat_requests[requests_mark:])
    assert asked[:2] == ["Can you call me back later?", "(typed on the keypad) 5550123"]
    call = stored_log("salon", caller=caller)
    assert call.outcome == "transferred"
    assert call.end_reason == "The caller pressed 0 on the keypad to reach a person."
    assert call.transferred_to.startswith("sip:+15550100900@")


@pytest.fixture
def salon_keypad(committed_db):
    """The salon's operator key and transfer target, as its owner sets them; restored afterwards."""
    from tenants.agent.models import AgentSettings

    with schema_context("salon"):
        saved_key, saved_target = AgentSettings.objects.values_list("keypad_operator_key", "transfer_to").get()

    def choose(*, operator_key: str, transfer_to: str) -> None:
        with schema_context("salon"):
            AgentSettings.objects.update(keypad_operator_key=operator_key, transfer_to=transfer_to)

    yield choose
    choose(operator_key=saved_key, transfer_to=saved_target)


def test_the_businesss_own_key_queues_a_callback_when_nobody_takes_transfers(platform, call_script, salon_keypad,
                                                                              tmp_path):
    from calls.models import CallbackRequest

    caller = "+15559990106"
    salon_keypad(operator_key="*", transfer_to="")  # nobody takes transfers
    call_script(transcripts=[], turns=QualityTurns())
    providers = platform.providers
    spoken_mark, requests_mark = len(providers.spoken), len(providers.chat_requests)
    phone = platform.phone(caller)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        phone.wait_event("CALL_ESTABLISHED", timeout=30)
        wait_for(lambda: providers.spoken[spoken_mark:], timeout=30, what="the greeting")
        time.sleep(spoken_seconds(greeting_text()))
        # "0" is no operator key at this business: it is a digit the caller typed.
        phone.press("0")
        wait_for(lambda: "(typed on the keypad) 0" in user_texts(providers.chat_requests[requests_mark:]),
                 timeout=30, what="the typed 0 to reach the model")
        phone.press("*")

        def callback():
            with schema_context("salon"):
                return CallbackRequest.objects.filter(caller_number=caller).first()

        queued = wait_for(callback, timeout=30, what="a callback request")
        wait_for(lambda: any("call you back" in text for _, text in providers.spoken[spoken_mark:]), timeout=30,
                 what="the caller to be told about the callback")
        time.sleep(4.0)  # the sentence plays
        phone.hang_up()
        phone.wait_event("CALL_CLOSED", timeout=10)
    finally:
        phone.stop()

    assert queued.reason == "The caller pressed * on the keypad to reach a person."
    assert not phone.received("REFER")
    call = stored_log("salon", caller=caller)
    assert call.outcome == "callback" and queued.call_id == call.id
