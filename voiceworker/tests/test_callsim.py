"""`manage.py callsim`: a text call with a business's real agent, here with a local OpenAI-compatible
model server playing the model."""
import io

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from calls.models import Call, CallNote
from testing.demo_tenants import SALON_NUMBER


def test_without_an_llm_it_says_what_to_set(settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    with pytest.raises(CommandError) as refused:
        call_command("callsim", SALON_NUMBER)
    assert "set OPENAI_API_KEY, or OPENAI_BASE_URL" in str(refused.value)


def test_it_holds_a_text_call_with_the_real_agent(live_api, fake_openai, settings, spool_dir):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = fake_openai.base_url
    fake_openai.steps = [
        {"tool_calls": [("log_note", {"note": "Wants to know if dogs are allowed."})]},
        {"content": "I've noted your question about dogs."},
        {"content": "Goodbye!", "tool_calls": [("end_call", {"outcome": "answered", "reason": "Question noted"})]},
    ]
    out = io.StringIO()
    call_command("callsim", SALON_NUMBER, stdin=io.StringIO("Are dogs allowed?\nThanks, bye.\nnever read\n"), stdout=out)

    shown = out.getvalue()
    assert "Agent: Thanks for calling Bella Hair Studio" in shown  # the tenant's greeting
    assert '[tool] log_note({"note": "Wants to know if dogs are allowed."})' in shown
    assert "Agent: I've noted your question about dogs." in shown
    assert "[the call would now be hung up]" in shown
    assert "Call ended: outcome answered, Question noted (log sent)." in shown
    assert "never read" not in shown
    # The model got the tenant's real instructions and tools.
    first_request = fake_openai.requests[0]
    assert first_request["model"] == "gpt-4.1-mini"
    assert "Bella Hair Studio" in first_request["messages"][0]["content"]
    with schema_context("salon"):
        assert CallNote.objects.get().text == "Wants to know if dogs are allowed."
        assert Call.objects.get().status == Call.Status.ENDED
