"""The owner's notification settings form: recipients one per line, events as checkboxes."""
from __future__ import annotations

from django import forms
from django.core.validators import validate_email

from core.phone import InvalidPhoneNumber, valid_phone_number
from notifications.models import NotificationEvent, NotificationSettings, every_event
from tenants.selectors import tenant_phone_region


def _lines(value: str) -> list[str]:
    return [item.strip() for item in value.replace(",", "\n").splitlines() if item.strip()]


class NotificationSettingsForm(forms.ModelForm):
    emails = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="One address per line. They get the emails and the daily digest.")
    sms_numbers = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Staff SMS numbers",
                                  help_text="One mobile number per line; leave empty for no SMS.")
    events = forms.MultipleChoiceField(required=False, choices=NotificationEvent.choices, widget=forms.CheckboxSelectMultiple,
                                       help_text="Only the ticked events are sent (the daily digest is separate).")

    class Meta:
        model = NotificationSettings
        fields = ["emails", "sms_numbers", "events", "quiet_hours_start", "quiet_hours_end", "digest_enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.initial.setdefault("events", every_event())
        if self.instance.pk:
            self.initial["emails"] = "\n".join(self.instance.emails)
            self.initial["sms_numbers"] = "\n".join(self.instance.sms_numbers)

    def clean_emails(self) -> list[str]:
        emails = _lines(self.cleaned_data["emails"])
        for email in emails:
            try:
                validate_email(email)
            except forms.ValidationError:
                raise forms.ValidationError(f"{email} is not an email address.") from None
        return emails

    def clean_sms_numbers(self) -> list[str]:
        numbers = []
        for raw in _lines(self.cleaned_data["sms_numbers"]):
            try:
                numbers.append(valid_phone_number(raw, default_region=tenant_phone_region()))
            except InvalidPhoneNumber as invalid:
                raise forms.ValidationError(str(invalid)) from None
        return numbers

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("quiet_hours_start")) != bool(cleaned.get("quiet_hours_end")):
            raise forms.ValidationError("Set both ends of the quiet hours, or neither.")
        return cleaned
