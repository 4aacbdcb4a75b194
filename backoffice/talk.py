"""Owners try their agent before going live: "Talk to your agent" (a test call from the browser over
LiveKit, with the saved settings or the settings form's unsaved draft) and hearing a voice.

The room and token come from here, for the signed-in owner or staff member, short-lived and for one
new room. The token's room configuration dispatches the agent by name with a platform-signed grant
(voiceapi/trial_calls.py) as the dispatch's metadata: the worker hands it to call start unchanged, and
the API takes the tenant, the draft and the fact that this is a test from that signature alone.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST
from livekit import api as livekit_api

from backoffice.sites import tenant_admin_site
from backoffice.voices import VoiceProviderError, voice_preview
from tenants.agent.models import AgentSettings
from tenants.agent.selectors import agent_settings_get
from voiceapi.trial_calls import agent_draft_store, trial_grant_issue

# The LiveKit token only has to last until the browser has joined; the room lives as long as the call.
TOKEN_SECONDS = 300
ROOM_PREFIX = "test-"
VIEW_PERMISSION = "calls.view_call"
DRAFT_PERMISSION = "agent.change_agentsettings"


def livekit_origins(url: str) -> list[str]:
    """The origins a browser reaches LiveKit at (its signalling WebSocket and the HTTP calls beside it),
    for the talk page's Content-Security-Policy: every other page may connect only to its own origin."""
    parts = urlsplit(url)
    if not parts.netloc:
        return []
    secure = parts.scheme in ("wss", "https")
    return [f"{'wss' if secure else 'ws'}://{parts.netloc}", f"{'https' if secure else 'http'}://{parts.netloc}"]


def livekit_missing() -> list[str]:
    return [name for name in ("LIVEKIT_BROWSER_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET") if not getattr(settings, name)]


def _require(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"ok": False, "error": {"code": code, "message": message}}, status=status)


def trial_call_token_issue(*, schema_name: str, user_label: str, draft_key: str = "",
                          now: dt.datetime | None = None) -> dict[str, str]:
    """A LiveKit access token for one new room that dispatches the agent as this tenant's test call."""
    room = f"{ROOM_PREFIX}{schema_name}-{uuid.uuid4().hex[:12]}"
    grant = trial_grant_issue(schema_name=schema_name, user=user_label, draft_key=draft_key, now=now)
    token = (
        livekit_api.AccessToken(settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET)
        .with_identity(f"owner-{uuid.uuid4().hex[:8]}")
        .with_name(user_label)
        .with_ttl(dt.timedelta(seconds=TOKEN_SECONDS))
        .with_grants(livekit_api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True,
                                             can_publish_data=True))
        .with_room_config(livekit_api.RoomConfiguration(agents=[livekit_api.RoomAgentDispatch(
            agent_name=settings.VOICE_AGENT_NAME, metadata=json.dumps({"test_grant": grant}))]))
        .to_jwt()
    )
    return {"url": settings.LIVEKIT_BROWSER_URL, "token": token, "room": room}


def _agent_settings_form(request, instance: AgentSettings):
    from backoffice.admin.agent import AgentSettingsForm

    return AgentSettingsForm(request.POST, instance=instance)


def agent_draft_from_form(request) -> tuple[str, list[str]]:
    """The settings form's unsaved values, validated as a save would validate them, kept for a test:
    (draft key, []) or ("", the errors to show)."""
    _require(request, DRAFT_PERMISSION)
    form = _agent_settings_form(request, agent_settings_get())
    if not form.is_valid():
        errors = [f"{form.fields[name].label if name in form.fields else 'Form'}: {' '.join(messages)}"
                  for name, messages in form.errors.items()]
        return "", errors
    return agent_draft_store(values=form.cleaned_data), []


def talk_view(request):
    """The "Talk to your agent" page; POSTed from the settings form, it tries the unsaved draft."""
    _require(request, VIEW_PERMISSION)
    draft_key, errors = ("", [])
    if request.method == "POST":
        draft_key, errors = agent_draft_from_form(request)
    context = {
        **tenant_admin_site.each_context(request),
        "title": "Talk to your agent",
        "draft_key": draft_key,
        "draft_errors": errors,
        "livekit_missing": livekit_missing(),
        "greeting": agent_settings_get().greeting,
    }
    response = TemplateResponse(request, "admin/soniq/talk.html", context)
    # django-csp's per-response addition (what its csp_update decorator sets), from today's setting.
    response._csp_update = {"connect-src": ["'self'", *livekit_origins(settings.LIVEKIT_BROWSER_URL)]}
    return response


@require_POST
def talk_token_view(request):
    """JSON {url, token, room} for the page's Call button."""
    _require(request, VIEW_PERMISSION)
    draft_key = request.POST.get("draft_key", "")
    if draft_key:
        _require(request, DRAFT_PERMISSION)
        if len(draft_key) != 32 or not draft_key.isalnum():
            return _error("invalid_draft", "The unsaved settings are not valid; open the test from the form again.", 400)
    missing = livekit_missing()
    if missing:
        return _error("livekit_not_configured",
                      f"Test calls need LiveKit: set {', '.join(missing)} on the server.", 503)
    return JsonResponse(trial_call_token_issue(schema_name=connection.tenant.schema_name,
                                              user_label=request.user.get_username(), draft_key=draft_key))


@require_GET
def voice_preview_view(request):
    """The greeting (or the text given) in a voice, as WAV, for the settings form's Play button."""
    _require(request, "agent.view_agentsettings")
    voice_id = request.GET.get("voice_id", "").strip()
    agent_settings = agent_settings_get()
    text = request.GET.get("text", "").strip() or agent_settings.greeting
    language = request.GET.get("language", "").strip() or agent_settings.language
    if not voice_id:
        return _error("voice_required", "Choose a voice to play.", 400)
    try:
        audio = voice_preview(voice_id=voice_id, text=text, language=language)
    except VoiceProviderError as exc:
        return _error("voice_unavailable", str(exc), 502)
    response = HttpResponse(audio, content_type="audio/wav")
    response["Cache-Control"] = "private, max-age=3600"
    return response


def urls() -> list:
    view = tenant_admin_site.admin_view
    return [
        path("", view(talk_view), name="agent_talk"),
        path("token", view(talk_token_view), name="agent_talk_token"),
        path("voice-preview", view(voice_preview_view), name="agent_voice_preview"),
    ]
