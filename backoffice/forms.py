"""The admin's "Add booking": a booking the business takes itself, at the counter or on its own phone."""
from __future__ import annotations

import datetime as dt

from django import forms
from django.db import connection

from bookings.availability import OpeningCalendar, booking_policy_get
from bookings.models import Booking, Service
from bookings.services import CUSTOMER_NAME_MAX, NOTES_MAX, BookingRefused, booking_create, booking_day_check
from core.errors import DomainError
from core.phone import InvalidPhoneNumber, valid_phone_number
from core.phrasing import clock_text
from tenants.hours.selectors import local_datetime
from tenants.selectors import tenant_phone_region, tenant_timezone


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
_ERROR_FIELDS = {"invalid_name": "customer_name", "invalid_phone": "customer_phone", "invalid_notes": "notes"}


def _day(day: dt.date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _clock(moment: dt.datetime | dt.time) -> str:
    """A time as the business's country writes it (12-hour in the US)."""
    return clock_text(moment, twelve_hour=getattr(connection.tenant, "twelve_hour_clock", False))


def _times(moments: list[dt.datetime], tz) -> str:
    local = [_clock(moment.astimezone(tz)) for moment in moments]
    return local[0] if len(local) == 1 else f"{', '.join(local[:-1])} or {local[-1]}"


def booking_refusal_for_owner(refusal: DomainError, *, service: Service, day: dt.date) -> str:
    """Why a booking the owner typed in was refused, in the owner's words (dates as the admin shows
    them, the free times to pick instead); the agent's sentences are for callers."""
    tz = tenant_timezone()
    start = getattr(refusal, "start", None)
    local = start.astimezone(tz) if start is not None else None
    at = f"{_clock(local)} on {_day(local.date())}" if local is not None else _day(day)
    if refusal.code == "closed":
        why = f"The business is closed on {_day(day)}."
    elif refusal.code == "outside_hours":
        hours = OpeningCalendar(tz=tz, first_day=day, last_day=day).wall_ranges_on(day)
        ranges = ", ".join(f"{_clock(opens)}-{_clock(closes)}" for opens, closes in hours)
        why = (f"A {service.duration_minutes}-minute {service.name} at {at} doesn't fit in our opening hours "
               f"({ranges}).")
    elif refusal.code == "in_the_past":
        why = f"{at[0].upper()}{at[1:]} has already passed."
    elif refusal.code == "slot_taken":
        why = f"{at[0].upper()}{at[1:]} is already taken for {service.name}: every place is booked."
    elif refusal.code == "too_far_ahead":
        horizon = booking_policy_get().horizon_days
        why = f"Not bookable yet: we only take bookings up to {horizon} days ahead."
    else:
        return refusal.message
    alternatives = getattr(refusal, "alternatives", [])
    if alternatives:
        offer_day = alternatives[0].astimezone(tz).date()
        when = "that day" if offer_day == day else f"on {_day(offer_day)}"
        why += f" I can offer {_times(alternatives, tz)} {when}."
    return why


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
        tz = tenant_timezone()
        try:
            booking_day_check(day=data["date"], now=now)  # before any time on it is computed
        except DomainError as refusal:
            self.add_error(None, booking_refusal_for_owner(refusal, service=data["service"], day=data["date"]))
            return None
        wall = data["time"].replace(second=0, microsecond=0)
        start = local_datetime(data["date"], wall, tz)
        if (start.hour, start.minute) != (wall.hour, wall.minute):
            # Inside a spring-forward gap: say so rather than book another time than the one typed.
            self.add_error("time", f"The clocks go forward that day, so {wall:%H:%M} does not exist; "
                                   f"the next time that does is {start:%H:%M}.")
            return None
        try:
            return booking_create(service=data["service"], start=start, customer_name=data["customer_name"],
                                  customer_phone=data["customer_phone"], notes=data["notes"], now=now,
                                  minimum_notice=False)
        except BookingRefused as refusal:
            # About the whole booking (the time, the slot), so above the form.
            self.add_error(None, booking_refusal_for_owner(refusal, service=data["service"], day=data["date"]))
        except DomainError as refusal:
            self.add_error(_ERROR_FIELDS.get(refusal.code), refusal.message)
        return None
