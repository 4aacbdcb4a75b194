"""Test calls: the grant that lets a browser room (or a scenario run) start a call as a tenant's test
call, the unsaved agent settings ("try before you save") it may run with, and what is undone when it
ends.

Why a signed grant: a browser room carries no SIP attributes naming the business, and the room's
metadata passes through the browser's hands. The admin signs {schema, user, draft} with SECRET_KEY
(its own salt, an expiry), puts it in the agent dispatch's metadata, and the worker hands it to
`POST /internal/calls/start` unchanged; the API trusts nothing else about which tenant, which config,
and that the call is a test. A browser that edits the metadata breaks the signature.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from bookings.models import Booking
from calls.models import Call, CallbackRequest
from core.errors import DomainError
from core.grants import GrantExpired, GrantRefused, grant_read, grant_sign
from orders.models import Order
from tenants.agent.models import AgentSettings

SALT = "soniq.calls.test-grant.v1"
# A grant is used within moments (the browser joins, the worker starts the call); a draft may be used
# by a scenario run queued behind others, so it lives longer.
GRANT_SECONDS = 300
DRAFT_SECONDS = 3600
# The settings a draft may change: what the owner edits on the agent settings form and hears at once.
DRAFT_FIELDS = ("business_name", "language", "greeting", "instructions", "voice_id", "voice_speed", "callback_promise")


class InvalidTrialGrant(Exception):
    pass


@dataclass(frozen=True)
class TrialGrant:
    schema_name: str
    user: str
    draft_key: str


def trial_grant_issue(*, schema_name: str, user: str, draft_key: str = "", now: dt.datetime | None = None,
                     valid_seconds: int = GRANT_SECONDS) -> str:
    return grant_sign({"s": schema_name, "u": user, "d": draft_key}, salt=SALT, valid_seconds=valid_seconds, now=now)


def trial_grant_read(grant: str) -> TrialGrant:
    try:
        payload = grant_read(grant, salt=SALT, fields={"s": str, "u": str, "d": str}, what="the test call grant")
    except GrantExpired as exc:
        raise InvalidTrialGrant("The test call grant has expired; start the test call again.") from exc
    except GrantRefused as exc:
        raise InvalidTrialGrant(str(exc)) from exc
    return TrialGrant(schema_name=payload["s"], user=payload["u"], draft_key=payload["d"])


# --- drafts: unsaved agent settings ------------------------------------------------------------

def _draft_cache_key(key: str) -> str:
    # django-tenants' cache key function adds the schema: a key is only readable in its tenant.
    return f"agent-draft:{key}"


def agent_draft_store(*, values: dict) -> str:
    """Keep unsaved agent settings (cleaned by the settings form) for a test call; returns its key."""
    draft = {name: str(values[name]) if isinstance(values[name], Decimal) else values[name]
             for name in DRAFT_FIELDS if name in values}
    key = uuid.uuid4().hex
    cache.set(_draft_cache_key(key), draft, DRAFT_SECONDS)
    return key


def agent_settings_with_draft(*, saved: AgentSettings, draft_key: str) -> AgentSettings:
    """The saved settings with the draft's values on top, never saved. A draft that expired is an
    error the owner can act on, not a silent fall-back to the saved settings."""
    if not draft_key:
        return saved
    draft = cache.get(_draft_cache_key(draft_key))
    if draft is None:
        raise DomainError("draft_expired", "The unsaved settings for this test are gone; try again from the form.")
    trial = AgentSettings.objects.get(pk=saved.pk)
    for name, value in draft.items():
        setattr(trial, name, Decimal(value) if name == "voice_speed" else value)
    return trial


# --- during and after the call -----------------------------------------------------------------

def trial_call_may_change_booking(*, call: Call, booking_id: int) -> None:
    """A test call moves or cancels only what it booked itself: an owner trying "cancel my booking"
    with a real customer's number and name must not cancel the real booking."""
    if call.is_test and not Booking.objects.filter(pk=booking_id, call=call).exists():
        raise DomainError("test_call_read_only",
                          _("This is a test call, so I can only change bookings made during this test."))


def trial_calls_sweep() -> int:
    """What ended test calls left behind, removed: a test call whose log never came (the browser
    closed, the worker died) is closed as abandoned by the calls sweep, and nothing else would free
    the slot its booking holds. Returns how many calls had something left."""
    leftover = Call.objects.filter(is_test=True, status=Call.Status.ENDED).filter(
        Q(bookings__isnull=False) | Q(orders__isnull=False) | Q(callback_requests__isnull=False)).distinct()
    calls = list(leftover)
    for call in calls:
        trial_call_cleanup(call=call)
    return len(calls)


def trial_call_cleanup(*, call: Call) -> dict[str, int]:
    """Remove what a test call made, when it ends, so it never holds a real caller's slot. The call,
    its transcript and its tool log stay (marked test) for the owner to read."""
    if not call.is_test:
        return {}
    with transaction.atomic():
        # Orders first: their lines cascade; bookings keep no lines.
        orders = Order.objects.filter(call=call).delete()[0]
        bookings = Booking.objects.filter(call=call).delete()[0]
        callbacks = CallbackRequest.objects.filter(call=call).delete()[0]
    return {"orders": orders, "bookings": bookings, "callbacks": callbacks}
