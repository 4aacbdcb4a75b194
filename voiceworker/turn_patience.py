"""Patience inside an utterance the caller has not finished: the words say what the audio may not.

The end-of-turn model (`providers.turn_handling`) hears only the last 1.2 s of audio before a pause,
and on a pause after "my number is", "um" or "five five five" it often hears a finished sentence
(bench/turn_taking.py: P(end) 0.45–0.62 at such pauses, above English's 0.36 threshold). A person
on the line would wait: the words so far cannot end a turn. So while a caller speaks, each final
transcript of the turn is read, and when the turn so far ends in a filler or a word that cannot end
a sentence ("is", "at", "the"), or in a group of digits of a number not yet complete, the turn's
silence before a reply is raised to `VOICE_ENDPOINTING_PATIENT_DELAY` for this turn only. A caller
who really stopped there is answered after that silence; every other turn keeps the model's timing.

The word lists are the tenant's language's (the gettext catalogs, sent in the call config's
`phrases`), so a new language brings its own fillers and digits; numerals count in any language.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_WORDS = re.compile(r"[^\w'-]+")
_NUMERAL = re.compile(r"^\d+$")
# Digits of a phone number: the shortest a caller gives is a national number without its
# country code (7 to 10 digits in the plans this platform serves); a turn that has fewer so far
# and ends in a group of them is a number being read out.
NUMBER_DIGITS = 10
# A group: a run of at least this many number words or digits ("five five five", "four twenty two",
# "555"); a single number ("Thursday at three", "table for two") ends a sentence.
GROUP_TOKENS = 3


def _words(text: str) -> list[str]:
    return _WORDS.sub(" ", text.lower()).split()


def _phrases(listing: str) -> list[list[str]]:
    return [words for words in (_words(phrase) for phrase in listing.split("|")) if words]


@dataclass(frozen=True)
class Unfinished:
    """The tenant's language's word lists, from the call config's phrases."""

    endings: str  # fillers and words a sentence does not end on, "|"-separated
    digit_words: str  # "zero|oh|one|…|nine": one digit each
    number_words: str  # "ten|eleven|…|hundred": number words that are not one digit

    def __call__(self, transcript: str) -> bool:
        """Whether the caller's turn so far (`transcript`) cannot be where they stopped."""
        words = _words(transcript)
        if not words:
            return False
        for phrase in _phrases(self.endings):
            if words[-len(phrase):] == phrase:
                return True
        digits = {word for phrase in _phrases(self.digit_words) for word in phrase}
        numbers = {word for phrase in _phrases(self.number_words) for word in phrase}

        def digit_count(word: str) -> int:
            return len(word) if _NUMERAL.match(word) else 1 if word in digits else 0

        run = []
        for word in reversed(words):
            if not (_NUMERAL.match(word) or word in digits or word in numbers):
                break
            run.append(word)
        if not run:
            return False
        grouped = len(run) >= GROUP_TOKENS or sum(map(digit_count, run)) >= GROUP_TOKENS
        return grouped and sum(map(digit_count, words)) < NUMBER_DIGITS


class TurnPatience:
    """Raises the session's silence before a reply while the caller's turn so far is unfinished, and
    puts it back when the turn ends (`SoniqAgent.stt_node` and `on_user_turn_completed`). The final
    transcript passes through `stt_node` before the session decides the turn, so the decision it
    starts already uses the new delay."""

    def __init__(self, session, unfinished: Unfinished, *, patient_delay: float):
        self.session, self.unfinished, self.patient_delay = session, unfinished, patient_delay
        self.turn, self.patient, self.default_delay = "", False, None

    def heard(self, transcript: str) -> None:
        self.turn = f"{self.turn} {transcript}".strip()
        self._wait(self.unfinished(self.turn))

    def turn_over(self) -> None:
        self.turn = ""
        self._wait(False)

    def _wait(self, patient: bool) -> None:
        if patient == self.patient:
            return
        if self.default_delay is None:
            self.default_delay = self.session.options.endpointing["min_delay"]
        delay = max(self.default_delay, self.patient_delay) if patient else self.default_delay
        self.session.update_options(endpointing_opts={"min_delay": delay})
        self.patient = patient
