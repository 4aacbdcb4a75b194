"""The admin's "Add booking": a booking the business takes itself, at the counter or on its own phone."""
from __future__ import annotations

import datetime as dt

from django import forms

from bookings.models import Booking, Service
from bookings.services import CUSTOMER_NAME_MAX, NOTES_MAX, booking_create
from core.errors import DomainError
from core.phone import InvalidPhoneNumber, valid_phone_number
from tenants.selectors import tenant_phone_region


def _plain_text(value) -> str:
    return "\n".join(line.rstrip() for line in str(value).replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip()


class PlainTextField(forms.CharField):
    """Text an owner edits in a browser: browsers send a textarea's lines ending in CRLF, while what
    the spec wrote ends them in LF, so every save looked like a change ("Changed Instructions" in
    the history with nothing changed). Line endings and trailing spaces are normalised on the way
    in, and on both sides of the comparison, so only a real change counts."""

    def to_python(self, value):
        value = super().to_python(value)
        return _plain_text(value) if value else value

    def has_changed(self, initial, data):
        if self.disabled:
            return False
        return _plain_text(initial or "") != _plain_text(self.to_python(data) or "")


# Which field a refusal of booking_create is about; the others (the time, the slot) are about the
# whole booking and are shown above the form.
_ERROR_FIELDS = {"invalid_name": "customer_name", "invalid_phone": "customer_phone", "invalid_notes": "notes",
                 "invalid_date": "date", "invalid_time": "time"}


class BookingAddForm(forms.Form):
    service = forms.ModelChoiceField(queryset=Service.objects.none(), empty_label=None)
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                           help_text="Local time of the business.")
    customer_name = forms.CharField(max_length=CUSTOMER_NAME_MAX)
    customer_phone = forms.CharField(max_length=40, help_text="Without a country code, read as a number of the "
                                                              "business's country. The confirmation SMS goes here.")
    notes = forms.CharField(required=False, max_length=NOTES_MAX, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_customer_phone(self) -> str:
        # Checked here too so the owner reads a form's sentence, not the one the agent says to a caller.
        try:
            return valid_phone_number(self.cleaned_data["customer_phone"], default_region=tenant_phone_region())
        except InvalidPhoneNumber as invalid:
            raise forms.ValidationError(str(invalid)) from None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = Service.objects.filter(active=True).order_by("name")

    def book(self, *, now: dt.datetime) -> Booking | None:
        """Book through the same service as the phone agent; None, with the refusal on the form,
        when a rule says no (nothing is written then)."""
        data = self.cleaned_data
        try:
            outcome = booking_create(
                service=data["service"], start=f"{data['date']:%Y-%m-%d}T{data['time']:%H:%M}",
                customer_name=data["customer_name"], customer_phone=data["customer_phone"], notes=data["notes"],
                now=now, minimum_notice=False,
            )
        except DomainError as refusal:
            self.add_error(_ERROR_FIELDS.get(refusal.code), refusal.message)
            return None
        return Booking.objects.select_related("service").get(pk=outcome.result["booking_id"])
