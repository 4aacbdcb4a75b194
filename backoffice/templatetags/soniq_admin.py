"""Template filters for the Soniq admin pages (durations, phone numbers, local times, badges)."""
import datetime as dt

from django import template
from django.utils.html import format_html

from backoffice.helpers import duration_text, local_time_text, phone_text
from tenants.selectors import tenant_clock_text

register = template.Library()


@register.filter
def call_duration(seconds):
    return duration_text(seconds)


@register.filter
def phone(number):
    return phone_text(number)


@register.filter
def clock(moment):
    """`3:30 PM` or `15:30`, as the business writes times (a datetime on its clock, or a time)."""
    if moment in (None, ""):
        return ""
    if isinstance(moment, int):  # an hour of the day view's scale
        moment = dt.time(moment % 24)
    return tenant_clock_text(moment)


@register.filter
def local_time(moment):
    return local_time_text(moment)


@register.simple_tag
def outcome_badge(call):
    if not call.outcome:
        label = "In progress" if call.status == "active" else "—"
        return format_html('<span class="soniq-badge">{}</span>', label)
    return format_html('<span class="soniq-badge soniq-{}">{}</span>', call.outcome, call.get_outcome_display())


@register.filter
def pretty_json(value):
    import json

    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.filter
def thousands(value):
    """12345 → 12,345 (django.contrib.humanize is not installed for one filter)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value
