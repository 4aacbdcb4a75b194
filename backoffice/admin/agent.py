"""The agent settings page: everything about how the phone agent behaves on one page, with the
escalation hours (when humans take transfers) as a table underneath.

EscalationHours has no foreign key to AgentSettings (both are "the tenant's", one settings row per
schema), so the hours are edited with a plain model formset dressed as an admin inline: the admin
passes `instance=` to every inline formset, and this formset accepts and ignores it. The inline is
returned from `get_inline_instances` rather than listed in `inlines`, because the admin's system
check would (rightly) refuse an inline without a foreign key.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseModelFormSet, modelformset_factory
from django.http import HttpResponseRedirect
from django.urls import reverse

from backoffice.forms import PlainTextField
from backoffice.helpers import SingleRowAdminMixin, first_overlap, overlap_message, validate_range_order
from backoffice.sites import tenant_admin_site
from backoffice.voices import VoiceProviderError, voice_get, voices_configured, voices_for_language
from core.catalogs import language_choice_problem, language_kept_warning, language_label, offered_languages
from core.phone import InvalidPhoneNumber, is_sip_uri, valid_phone_number
from tenants.agent.models import (
    FACTS_TOTAL_MAX,
    AgentSettings,
    BusinessFact,
    EscalationHours,
    SupportLogin,
    normalize_transfer_target,
)
from tenants.selectors import tenant_phone_region


class AgentSettingsForm(forms.ModelForm):
    class Meta:
        model = AgentSettings
        fields = "__all__"
        field_classes = {"greeting": PlainTextField, "instructions": PlainTextField, "business_name": PlainTextField,
                         "callback_promise": PlainTextField}
        widgets = {
            "greeting": forms.Textarea(attrs={"rows": 2, "cols": 80}),
            "instructions": forms.Textarea(attrs={"rows": 12, "cols": 80}),
            "recording_disclosure": forms.Textarea(attrs={"rows": 2, "cols": 80}),
        }
        help_texts = {
            "greeting": "The first sentence callers hear. Takes effect on the next call.",
            "max_call_seconds": "Calls end (or are transferred) after this many seconds (60–3600).",
            "transfer_to": "A phone number (+1 555 010 0900) or a SIP address (sip:desk@example.com). "
                           "Leave empty to always queue callbacks.",
            "voice_speed": "0.6 (slow) to 1.5 (fast); 1.0 is normal.",
        }


    def clean_transfer_to(self):
        # A number is checked against its country's numbering plan (a SIP address is the owner's own
        # system and is taken as written); the model then stores it as tel:+E164.
        # Only a changed one: a number saved before this check must not block saving the rest.
        target = (self.cleaned_data.get("transfer_to") or "").strip()
        if target and not is_sip_uri(target) and "transfer_to" in self.changed_data:
            normalize_transfer_target(target)  # neither a number nor a SIP address: says so
            try:
                return valid_phone_number(target.removeprefix("tel:"), default_region=tenant_phone_region())
            except InvalidPhoneNumber as invalid:
                raise ValidationError(str(invalid)) from None
        return target
    voice_id_typed = forms.CharField(
        label="…or a voice id", required=False, max_length=100,
        help_text="A Cartesia voice id typed by hand; it is checked with Cartesia when you save.")

    class Media:
        js = ["backoffice/voice_picker.js"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.voice_list_problem = ""
        if "language" in self.fields:
            self.fields["language"] = self.language_field()
        if "voice_id" not in self.fields:
            return
        current = (self.instance.voice_id or "") if self.instance else ""
        language = self.data.get("language") or (self.instance.language if self.instance else "") or "en"
        try:
            voices = voices_for_language(language=language) if voices_configured() else []
        except VoiceProviderError as exc:
            voices, self.voice_list_problem = [], str(exc)
        if not voices:
            return  # no list to choose from: the plain text box, checked on save when Cartesia is configured
        choices = [("", "The platform's default voice")] + [(voice.id, voice.label) for voice in voices]
        if current and current not in {voice.id for voice in voices}:
            choices.insert(1, (current, f"Current: {current}"))
        self.fields["voice_id"] = forms.ChoiceField(
            label="Voice", choices=choices, required=False,
            help_text="Cartesia's voices that speak the agent's language. Press Play to hear the greeting.")

    def language_field(self) -> forms.ChoiceField:
        """The languages whose catalogs are complete (core/catalogs.py), and the business's own if it
        is no longer one of them: it keeps working, with a warning."""
        current = (self.instance.language or "") if self.instance and self.instance.pk else ""
        choices = [(code, language_label(code)) for code in offered_languages()]
        help_text = "The language the agent speaks. It follows the caller if they switch."
        if current and current not in dict(choices):
            warning = language_kept_warning(current)
            choices.append((current, f"{language_label(current)}, incomplete" if warning else language_label(current)))
            help_text = warning or help_text
        return forms.ChoiceField(label="Language", choices=choices, help_text=help_text)

    def clean_language(self):
        language = self.cleaned_data["language"].strip()
        current = (self.instance.language or "") if self.instance and self.instance.pk else ""
        if problem := language_choice_problem(language, current=current):
            raise ValidationError(problem)
        return language

    def clean(self):
        cleaned_data = super().clean()
        typed = (cleaned_data.get("voice_id_typed") or "").strip()
        if typed:
            cleaned_data["voice_id"] = typed
        voice_id = cleaned_data.get("voice_id") or ""
        initial = (self.instance.voice_id or "") if self.instance else ""
        if voice_id and voice_id != initial and voices_configured():
            # An id Cartesia does not know would leave every call silent; a list pick is checked too
            # (cheap, cached list or not), since the list may be older than the provider's catalogue.
            field = "voice_id_typed" if typed else "voice_id"
            try:
                voice = voice_get(voice_id=voice_id)
            except VoiceProviderError as exc:
                self.add_error(field, f"The voice could not be checked with Cartesia: {exc} Try again in a moment.")
                return cleaned_data
            if voice is None:
                self.add_error(field, f"Cartesia has no voice with the id {voice_id!r}.")
        self.instance.voice_id = voice_id
        return cleaned_data


class EscalationHoursForm(forms.ModelForm):
    class Meta:
        model = EscalationHours
        fields = ["weekday", "starts", "ends"]
        widgets = {"starts": forms.TimeInput(format="%H:%M"), "ends": forms.TimeInput(format="%H:%M")}

    def clean(self):
        cleaned_data = super().clean()
        validate_range_order(cleaned_data.get("starts"), cleaned_data.get("ends"), starts_field="starts", ends_field="ends")
        return cleaned_data


class EscalationHoursFormSet(BaseModelFormSet):
    """All of the tenant's escalation hours, checked together: two ranges on one day must not
    overlap (the transfer decision would be ambiguous and the spec validator refuses it too)."""

    def __init__(self, *args, instance=None, save_as_new=False, **kwargs):
        self.instance = instance
        super().__init__(*args, **kwargs)

    @classmethod
    def get_default_prefix(cls):
        return "escalation_hours"

    def clean(self):
        super().clean()
        kept = [
            (form.cleaned_data["weekday"], form.cleaned_data["starts"], form.cleaned_data["ends"])
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
            and {"weekday", "starts", "ends"} <= set(form.cleaned_data)
        ]
        overlap = first_overlap(kept)
        if overlap:
            raise ValidationError(overlap_message(*overlap, what="Escalation hours"))


class EscalationHoursInline(admin.TabularInline):
    model = EscalationHours
    form = EscalationHoursForm
    extra = 1
    verbose_name = "hour range when humans take transfers"
    verbose_name_plural = "Escalation hours (when humans take transferred calls; otherwise a callback is queued)"

    def get_formset(self, request, obj=None, **kwargs):
        can_delete = self.has_delete_permission(request, obj)
        formset = modelformset_factory(
            EscalationHours, form=self.form, formset=EscalationHoursFormSet, fields=["weekday", "starts", "ends"],
            extra=self.extra, can_delete=can_delete,
        )
        formset.fk = None
        return formset

    def get_queryset(self, request):
        return EscalationHours.objects.order_by("weekday", "starts")


@admin.register(AgentSettings, site=tenant_admin_site)
class AgentSettingsAdmin(SingleRowAdminMixin, admin.ModelAdmin):
    form = AgentSettingsForm
    save_on_top = False
    # Adds "Try these settings" (a test call with the unsaved form, backoffice/talk.py), "Check against
    # scenarios" (trials/) and the voice's Play button.
    change_form_template = "admin/soniq/agentsettings_change_form.html"
    fieldsets = [
        ("What callers can do", {"fields": ["capabilities"]}),
        ("Greeting and voice", {"fields": ["business_name", "greeting", "language", "voice_id", "voice_id_typed",
                                           "voice_speed"]}),
        ("Instructions", {"fields": ["instructions"],
                          "description": "What the agent knows and how it behaves. Opening hours, services, "
                                         "the menu and today's date are added automatically."}),
        ("Call length", {"fields": ["max_call_seconds", "first_warning_seconds", "final_warning_seconds"],
                         "description": "The agent warns the caller before the call reaches its maximum length."}),
        ("Escalation", {"fields": ["transfer_to", "transfer_mode", "transfer_ringing_seconds", "escalation_fallback",
                                   "callback_promise", "transfer_text_staff", "keypad_operator_key"]}),
        ("Callbacks the agent returns", {
            "fields": ["agent_returns_callbacks", "callback_max_attempts", "callback_retry_minutes",
                       "callback_max_concurrent", "callback_window_start_hour", "callback_window_end_hour",
                       "callback_abroad_allowed"],
            "description": "The agent calls queued callbacks back itself: inside opening hours and the calling "
                           "window (your time zone), never to a number that asked not to be called or texted "
                           "STOP. A voicemail gets a short message and another try later."}),
        ("Text messages", {"fields": ["sms_confirmations"]}),
        ("Call recordings", {"fields": ["record_calls", "recording_disclosure", "recording_retention_days",
                                        "recording_retention_deletes_transcript"]}),
    ]

    def get_inline_instances(self, request, obj=None):
        inline = EscalationHoursInline(self.model, self.admin_site)
        if not (inline.has_view_or_change_permission(request, obj) or inline.has_add_permission(request, obj)):
            return []
        return [inline]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(request, object_id, form_url, {"title": "Agent settings", **(extra_context or {})})

    def response_change(self, request, obj):
        # Stay on the page: this is the only row, and the owner usually checks what they changed.
        if "_continue" not in request.POST and "_saveasnew" not in request.POST:
            self.message_user(request, "Saved. The next call uses these settings.")
            return self.response_post_save_change(request, obj)
        return super().response_change(request, obj)

    def response_post_save_change(self, request, obj):
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:agent_agentsettings_change", args=[obj.pk]))


class BusinessFactForm(forms.ModelForm):
    class Meta:
        model = BusinessFact
        fields = ["topic", "answer", "position"]
        field_classes = {"topic": PlainTextField, "answer": PlainTextField}
        widgets = {"answer": forms.Textarea(attrs={"rows": 3, "cols": 80})}

    def clean(self):
        cleaned_data = super().clean()
        # Every call's instructions carry all facts, so the list as a whole is bounded, not just each one.
        others = BusinessFact.objects.exclude(pk=self.instance.pk).values_list("topic", "answer")
        total = sum(len(topic) + len(answer) for topic, answer in others)
        total += len(cleaned_data.get("topic") or "") + len(cleaned_data.get("answer") or "")
        if total > FACTS_TOTAL_MAX:
            raise ValidationError(f"All facts together would be {total} characters; keep them under {FACTS_TOTAL_MAX} "
                                  "(shorten this answer or another fact).")
        return cleaned_data


@admin.register(BusinessFact, site=tenant_admin_site)
class BusinessFactAdmin(admin.ModelAdmin):
    """What the agent tells callers who ask about parking, payment, accessibility...; a question the
    facts do not answer gets "I'm not sure, I can take a message"."""

    form = BusinessFactForm
    list_display = ["topic", "answer", "position"]
    list_editable = ["position"]
    ordering = ["position", "pk"]


@admin.register(SupportLogin, site=tenant_admin_site)
class SupportLoginAdmin(admin.ModelAdmin):
    """Every time the platform's support logged in as the owner: who, when and why. Read-only."""

    list_display = ["created", "operator", "owner", "reason", "used_at"]
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
