"""The sentences the voice worker says on its own — fillers, apologies, "are you still there?",
goodbyes, the time-limit warnings' closings — and the words it does not take as an interruption,
named once for both sides.

The English here is the msgid of Django's translation catalogs (`locale/<lang>/LC_MESSAGES/django.po`).
The API translates them into the tenant's language at call start (`voiceapi.call_config`, under
`translation.override`) and sends them in the call config's `phrases`; the worker says what it was
sent and falls back to this English only for a key the config lacks (an older API). The worker's
job processes load no Django app, so they could not read the catalogs themselves, and one catalog
for every sentence a caller hears means a new language is added by completing that catalog.

`gettext_noop` only marks the strings for `makemessages`: importing it needs no app registry.
"""
from __future__ import annotations

from django.utils.translation import gettext_noop as _

PHRASES: dict[str, str] = {
    # After ~1 s of the model thinking, and again if it keeps the caller waiting.
    "filler": _("One moment."),
    "still_thinking": _("Just a moment more."),
    "say_again": _("Sorry, could you say that again?"),
    "failure_apology": _("I'm sorry, we're having technical difficulties. Please call us again in a few minutes. "
                         "Goodbye."),
    "still_there": _("Are you still there?"),
    "no_response_goodbye": _("I can't hear anyone, so I'll end the call now. Please call us again. Goodbye!"),
    "goodbye": _("Thank you for calling. Goodbye!"),
    "transfer_announcement": _("Please hold while I transfer you."),
    # Said at once when a transfer comes back to the agent (call_actions.transfer_caller), before the
    # callback or the message that follows: the caller is never left in silence while the model thinks.
    "transfer_busy": _("I'm sorry, that line is busy right now."),
    "transfer_declined": _("I'm sorry, my colleague can't take your call right now."),
    "transfer_no_answer": _("I'm sorry, nobody is answering right now."),
    "transfer_failed": _("I'm sorry, I couldn't put you through."),
    # A warm transfer (voiceworker/warm_transfer.py): the briefing and its question are for the staff
    # member only. Nobody took the call: the caller hears the transfer_* sentence of how it ended.
    "warm_transfer_briefing": _("Hello, this is the phone assistant of {business}. I have {caller} on the line, "
                                "about: {reason}. Press 1 to take the call, or 2 to decline."),
    "warm_transfer_a_caller": _("a caller"),
    "warm_transfer_ask_again": _("Press 1 to take the call, or 2 to decline."),
    "warm_transfer_connecting": _("Thank you, connecting you now."),
    "time_up_transfer": _("We've reached the time limit for this call, so I'm transferring you to a colleague now."),
    "time_up_goodbye": _("I'm sorry, we've reached the time limit for this call."),
    "time_up_no_callback": _("Please call us again if there is anything else."),
    "goodbye_word": _("Goodbye!"),
    # What the caller typed on the keypad when asked for a number, as their words to the model.
    "keypad_digits": _("(typed on the keypad) {digits}"),
    # Said while the agent speaks, these only show the caller is listening: they do not interrupt.
    # Separated by "|"; each a whole utterance, lower case, without punctuation.
    "backchannels": _("mm-hmm|mhm|mm|hmm|uh-huh|uh huh|okay|ok|yeah|yes|yep|right|sure|alright|all right|i see|"
                      "got it|um|uh|ah|oh|er"),
    # A turn that ends in one of these is not over: the caller pauses after "my number is" or "um"
    # (voiceworker/turn_patience.py waits longer). Fillers, and the words a sentence cannot end on.
    # Separated by "|"; lower case, without punctuation.
    "unfinished_endings": _("um|uh|er|erm|hmm|let me think|let me see|let me check|just a second|one second|"
                            "hold on|hang on|the|a|an|my|our|your|and|or|but|because|is|it's|at|to|with|from|of"),
    # Digits as callers read numbers out ("five five five"): each word is one digit.
    "digit_words": _("zero|oh|o|one|two|three|four|five|six|seven|eight|nine"),
    # Other number words, which continue a number being read out ("four twenty two").
    "number_words": _("ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|"
                      "thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|double|triple"),
}

# An outbound call returning a queued callback (calls/callback_dialing.py): the agent's first words
# once the customer answers, and the message a voicemail gets. Filled in by the API
# (voiceapi/call_config.py) with the business's name and the reason the caller gave.
CALLBACK_OPENING = _("Hello, this is {business}. You asked us to call you back about {reason}. "
                     "Is now a good time?")
CALLBACK_VOICEMAIL = _("Hello, this is {business}. You asked us to call you back about {reason}. "
                       "Sorry we missed you; we will try again later. Goodbye.")
