"""A caller who pauses inside their phone number is not answered until they finish it (issue 21 item 1),
through the real SIP bridge: the caller's phone plays the number in groups with 1.2 s pauses inside, as
people read numbers out, and what it heard back is checked for a reply in those pauses.

The cut-off rate and the reply times before and after, on more utterances and voices, are
`bench/turn_taking.py`'s (docs/BENCHMARKS.md)."""
from __future__ import annotations

import itertools

import pytest

from devstack.audio import Script, speech_segments
from devstack.standins import last_user_text

pytestmark = [pytest.mark.realcall]

SALON_NUMBER = "+15550100001"
CALLER = "+15559990011"
GROUPS = ["My number is", "five five five", "two one two", "four three eight seven."]


def test_a_caller_pausing_inside_their_number_is_answered_once_it_is_complete(platform, call_script, committed_db,
                                                                               tmp_path):
    call_script(transcripts=list(GROUPS))
    wav, lines = Script([(7.0, GROUPS[0]), (1.2, GROUPS[1]), (1.2, GROUPS[2]), (1.2, GROUPS[3])],
                        tail_seconds=12.0).render(tmp_path / "caller.wav")
    phone = platform.phone(CALLER, audio=wav)
    requests_before = len(platform.providers.chat_requests)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        phone.wait_event("CALL_ESTABLISHED", timeout=30)
        phone.wait_event("CALL_CLOSED", timeout=lines[-1].end + 25)  # the WAV's end hangs up
    finally:
        phone.stop()

    speech = speech_segments(*phone.heard())
    pauses = [(before.end, after.start) for before, after in itertools.pairwise(lines)]
    assert all(after - before >= 1.2 for before, after in pauses)
    # Nothing the agent said started while the caller was pausing inside the number (the greeting
    # is long over by the first group).
    started_in_a_pause = [segment for segment in speech
                          for start, end in pauses if start < segment.start < end + 0.3]
    assert not started_in_a_pause, f"the agent spoke in a pause: {started_in_a_pause}, pauses {pauses}"
    # …and it did answer, after the last group.
    assert any(segment.start > lines[-1].end for segment in speech), "no reply after the number"
    # The reply the caller heard answers the whole number as one turn.
    requests = platform.providers.chat_requests[requests_before:]
    assert any(last_user_text(request["messages"]) == " ".join(GROUPS) for request in requests), \
        [last_user_text(request["messages"]) for request in requests]
