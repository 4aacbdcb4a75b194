"""Turn-taking on a phone line (issue 21 items 1-3): when the caller has finished, what interrupts
the agent, and that the caller's first words are heard. The session is built as a call builds it
(`providers.build_session`), or driven with the call's interruption options on a live audio input
through a scripted line: what the caller says is what Silero (voice activity) and Deepgram
(transcripts) would send for it, in the order they arrive.

The real-audio proofs (the end-of-turn model against pauses inside phone numbers, played through
the SIP bridge; the cut-off rate) are the real call path's (`pytest -m realcall`)."""
from __future__ import annotations

import asyncio

from livekit.agents import AgentSession, inference

from core.call_contract import CallConfig
from voiceworker.agent import SoniqAgent
from voiceworker.call_control import LoggingCallControl
from voiceworker.call_state import CallState
from voiceworker.providers import build_session, turn_handling
from voiceworker.tests.fakes import (
    LineAudioInput,
    PausableAudioOutput,
    PlayingAudioOutput,
    RecordingTTS,
    ScriptedLine,
    ScriptedLLM,
)

OPENING_HOURS = "Our salon is open from nine to six on weekdays and from ten to four on Saturdays."


def call_state(config: CallConfig) -> CallState:
    return CallState(call_id="c", call_token="t", config=config, api=None, control=LoggingCallControl())


def built_session(config: CallConfig, settings) -> AgentSession:
    settings.DEEPGRAM_API_KEY, settings.OPENAI_API_KEY, settings.CARTESIA_API_KEY = "dg", "oa", "ca"
    settings.OPENAI_BASE_URL = ""

    async def build():
        return build_session(config, vad_model=None, userdata=call_state(config))

    return asyncio.run(build())


# 1. The end of the caller's turn ------------------------------------------------------------------

def test_it_ends_turns_with_the_local_end_of_turn_model_in_languages_it_covers(settings):
    settings.VOICE_ENDPOINTING_MIN_DELAY, settings.VOICE_ENDPOINTING_MAX_DELAY = 0.6, 2.5
    session = built_session(CallConfig(language="es-ES"), settings)
    detector = session.turn_detection
    # livekit's own model, pinned to the local mini version (the default resolves to the cloud model
    # in dev mode), with the endpointing delays from settings.
    assert isinstance(detector, inference.TurnDetector)
    assert detector.model == "turn-detector-v1-mini"
    assert (session.options.endpointing["min_delay"], session.options.endpointing["max_delay"]) == (0.6, 2.5)


def test_a_language_the_model_does_not_cover_waits_for_a_longer_silence(settings):
    settings.VOICE_UNCOVERED_LANGUAGE_SILENCE = 1.3
    session = built_session(CallConfig(language="pl-PL"), settings)
    assert session.turn_detection == "vad"
    assert session.options.endpointing["min_delay"] == 1.3


def test_the_model_can_be_switched_off(settings):
    settings.VOICE_TURN_DETECTOR = "vad"
    assert built_session(CallConfig(language="en-US"), settings).turn_detection == "vad"


# 3. The caller's first words ----------------------------------------------------------------------

def test_no_echo_cancellation_warm_up_throws_away_the_callers_first_seconds(settings):
    session = built_session(CallConfig(language="en-US"), settings)
    # The framework's default (3 s) replaced what the caller said after the greeting began with
    # silence; the phone network cancels the line's echo itself.
    assert session.options.aec_warmup_duration is None
    assert session._aec_warmup_remaining == 0.0


# 2. Backchannels and barge-in ------------------------------------------------------------------------

def listening_session(config: CallConfig) -> tuple[AgentSession, ScriptedLine, ScriptedLLM]:
    """A call's agent and interruption options on a live line: audio in, voice activity and
    transcripts the test speaks through, a voice that plays in real time."""
    model = ScriptedLLM([{"content": "Sure, Thursday then."}])
    line = ScriptedLine()
    session = AgentSession(stt=line.stt, vad=line.vad, llm=model, tts=RecordingTTS(seconds_per_char=0.04),
                           turn_handling={"turn_detection": "vad", "interruption": turn_handling(config)["interruption"]},
                           aec_warmup_duration=None, userdata=call_state(config))
    session.input.audio = LineAudioInput()
    session.output.audio = PlayingAudioOutput()
    return session, line, model


async def caller_says_while_agent_speaks(config: CallConfig, words: str, *, interim: str | None = None):
    session, line, model = listening_session(config)
    await session.start(SoniqAgent(instructions="", tools_offered=[]), record=False)
    speech = session.say(OPENING_HOURS)
    await asyncio.wait_for(until_speaking(session), 5)
    await line.caller_says(words, interim=words if interim is None else interim)
    await asyncio.wait([asyncio.ensure_future(speech.wait_for_playout())], timeout=6)

    def said() -> list[tuple[str, str]]:
        return [(item.role, item.text_content) for item in session.history.items if item.type == "message"]

    # A turn the words started is committed after the endpointing delay (0.5 s), asks the model,
    # and its reply is said: wait for that reply, for as long as a reply would take to come.
    for _ in range(300):
        if said()[-1] == ("assistant", "Sure, Thursday then."):
            break
        await asyncio.sleep(0.01)
    said = said()
    await session.aclose()
    return speech.interrupted, said, model.requests


async def until_speaking(session: AgentSession) -> None:
    while session.agent_state != "speaking":
        await asyncio.sleep(0.01)


def test_a_backchannel_while_the_agent_speaks_does_not_stop_it():
    for words in ("Mm-hmm.", "Okay.", "Yeah, okay.", "Um."):
        interrupted, said, requests = asyncio.run(caller_says_while_agent_speaks(CallConfig(language="en"), words))
        assert not interrupted, words
        assert said == [("assistant", OPENING_HOURS)], words  # no turn of the caller's, no reply
        assert requests == [], words


def test_noise_without_words_does_not_stop_the_agent():
    # A cough, a car, a breath: voice activity long enough to interrupt, but no word transcribed.
    interrupted, said, requests = asyncio.run(caller_says_while_agent_speaks(CallConfig(language="en"), "", interim=""))
    assert not interrupted and said == [("assistant", OPENING_HOURS)] and requests == []


def test_a_real_barge_in_stops_the_agent_and_is_answered():
    interrupted, said, requests = asyncio.run(caller_says_while_agent_speaks(CallConfig(language="en"),
                                                                             "No, wait, Thursday."))
    assert interrupted
    assert said[1:] == [("user", "No, wait, Thursday."), ("assistant", "Sure, Thursday then.")]


def test_the_tenants_language_has_its_own_backchannels():
    config = CallConfig(language="es", phrases={"backchannels": "ajá|vale|sí|claro|eh|este"})
    interrupted, said, _requests = asyncio.run(caller_says_while_agent_speaks(config, "Ajá, vale."))
    assert not interrupted and len(said) == 1


def test_a_short_answer_when_the_agent_is_silent_is_the_callers_turn():
    async def scenario():
        session, line, model = listening_session(CallConfig(language="en"))
        await session.start(SoniqAgent(instructions="", tools_offered=[]), record=False)
        await asyncio.sleep(0.2)
        await line.caller_says("Okay.", interim="Okay")
        for _ in range(300):
            if model.requests:
                break
            await asyncio.sleep(0.01)
        await session.aclose()
        return model.requests

    (request,) = asyncio.run(scenario())
    chat_ctx, _tools = request
    assert chat_ctx.items[-1].text_content == "Okay."


def test_a_false_interruption_pauses_the_agent_then_it_resumes(settings):
    settings.VOICE_FALSE_INTERRUPTION_TIMEOUT = 1.0

    async def scenario():
        session, line, model = listening_session(CallConfig(language="en"))
        session.output.audio = voice = PausableAudioOutput()
        resumed = []
        session.on("agent_false_interruption", lambda event: resumed.append(event.resumed))
        await session.start(SoniqAgent(instructions="", tools_offered=[]), record=False)
        speech = session.say(OPENING_HOURS)
        await asyncio.wait_for(until_speaking(session), 5)
        # A word begins ("Thurs…") and the caller stops: no turn comes of it.
        await line.caller_says("", interim="Thurs")
        await asyncio.wait([asyncio.ensure_future(speech.wait_for_playout())], timeout=10)
        await session.aclose()
        return voice, resumed, speech.interrupted, model.requests

    voice, resumed, interrupted, requests = asyncio.run(scenario())
    assert len(voice.paused) == 1 and voice.resumed[-1] > voice.paused[0]  # it paused for the caller, then went on
    assert resumed == [True]
    assert not interrupted and requests == []


def test_interruptions_need_words_and_a_false_one_resumes(settings):
    settings.VOICE_FALSE_INTERRUPTION_TIMEOUT = 1.5
    interruption = turn_handling(CallConfig(language="en"))["interruption"]
    # Noise, a cough or a breath is voice activity without a word: it no longer stops the agent.
    assert interruption["min_words"] == 1
    assert (interruption["resume_false_interruption"], interruption["false_interruption_timeout"]) == (True, 1.5)


# 1b. Words that cannot end a turn ------------------------------------------------------------------

async def caller_pauses(first: str, rest: str, *, pause: float) -> tuple[list[tuple[str, str]], int]:
    """The caller says `first`, is silent for `pause` seconds (longer than the 0.5 s that ends a
    finished-sounding turn), then says `rest`. What the session made of it: its messages, and how
    many turns of the caller's it had ended (and so answered) while the caller was still pausing.
    (Model requests are no measure: preemptive generation asks early and drops the answer.)"""
    session, line, model = listening_session(CallConfig(language="en"))
    await session.start(SoniqAgent(instructions="", tools_offered=[]), record=False)
    await asyncio.sleep(0.2)
    await line.caller_says(first, interim=first)
    await asyncio.sleep(pause)
    asked_in_the_pause = sum(1 for item in session.history.items if item.type == "message" and item.role == "user")
    await line.caller_says(rest, interim=rest)
    for _ in range(400):
        if sum(1 for item in session.history.items if item.type == "message") >= 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    said = [(item.role, item.text_content) for item in session.history.items if item.type == "message"]
    await session.aclose()
    return said, asked_in_the_pause


def test_a_caller_pausing_inside_a_phone_number_is_not_answered_until_it_is_complete():
    for first, rest in (("My number is", "five five five, two one two, four three eight seven."),
                        ("My number is five five five", "two one two, four three eight seven."),
                        ("Um, let me think", "maybe Thursday afternoon.")):
        said, asked_in_the_pause = asyncio.run(caller_pauses(first, rest, pause=1.2))
        assert asked_in_the_pause == 0, first
        assert said[0] == ("user", f"{first} {rest}"), first
        assert said[1][0] == "assistant", first  # one reply, to the whole number


def test_a_finished_answer_is_answered_in_the_pause_after_it():
    # The control: the same pause after words that can end a turn is the caller waiting for us.
    said, asked_in_the_pause = asyncio.run(caller_pauses("Thursday at three.", "Hello?", pause=1.2))
    assert asked_in_the_pause == 1
    assert said[0] == ("user", "Thursday at three.") and said[1][0] == "assistant"


def test_unfinished_endings_are_the_tenants_language_and_numbers_count_in_any():
    from voiceworker.turn_patience import Unfinished

    spanish = Unfinished(endings="eh|este|pues|a ver|déjame pensar|es|de|en|y|mi|el|la",
                         digit_words="cero|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve",
                         number_words="diez|veinte|treinta|cien")
    assert spanish("Mi número es") and spanish("Eh, déjame pensar") and spanish("cinco cinco cinco")
    assert not spanish("El jueves a las tres.") and not spanish("Sí, me viene bien.")
    assert spanish("Es el 555 21") and not spanish("Es el 555 212 4387")
