"""Texts customers send to the business's number (SignalWire's inbound-message webhook, handled by
soniq_site/sms_webhook.py in the tenant's schema): the carrier keywords and every other reply.

STOP (and UNSUBSCRIBE, STOPALL, CANCEL, END, QUIT) opts the number out of the business's texts,
confirmed once; START (UNSTOP, YES) opts it back in; HELP (INFO) answers with the business's name and
number. Anything else is kept as an `SmsReply` for staff. The answer, if any, goes back in the
webhook's own response (cXML), so a keyword's confirmation needs no SMS credentials of ours.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from core.phone import InvalidPhoneNumber, normalize_phone_number
from messaging.models import SmsOptOut, SmsReply

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO"}


@dataclass
class InboundOutcome:
    kind: str  # "opted_out", "opted_in", "help", "reply", "duplicate"
    answer: str = ""
    reply: SmsReply | None = None


def sms_number_opted_out(number: str) -> bool:
    return SmsOptOut.objects.filter(number=number, opted_out=True).exists()


def sms_inbound_handle(*, from_number: str, to_number: str, body: str, message_id: str, business: str,
                       now: dt.datetime) -> InboundOutcome:
    """Act on one inbound text in the current tenant's schema."""
    try:
        sender = normalize_phone_number(from_number)
    except InvalidPhoneNumber:
        sender = (from_number or "")[:20]
    keyword = " ".join((body or "").split()).upper().strip(".!")
    with transaction.atomic():
        if keyword in STOP_WORDS:
            row = SmsOptOut.objects.select_for_update().filter(number=sender).first()
            if row is not None and row.opted_out:
                return InboundOutcome("opted_out")  # confirmed once already
            SmsOptOut.objects.update_or_create(number=sender, defaults={"opted_out": True, "changed_at": now})
            return InboundOutcome("opted_out", f"{business}: you will get no more texts from us. Reply START to "
                                                "get them again.")
        if keyword in START_WORDS:
            SmsOptOut.objects.update_or_create(number=sender, defaults={"opted_out": False, "changed_at": now})
            return InboundOutcome("opted_in", f"{business}: you will get our texts again. Reply STOP to stop them.")
        if keyword in HELP_WORDS:
            return InboundOutcome("help", f"{business}: call us on {to_number} for help with your booking or order. "
                                          "Reply STOP to stop texts.")
        reply, created = SmsReply.objects.get_or_create(provider_id=message_id[:64], defaults={
            "from_number": sender, "to_number": to_number[:20], "body": (body or "")[:1600], "received_at": now})
    return InboundOutcome("reply" if created else "duplicate", reply=reply)
