"""SignalWire's inbound-message webhook (POST /sms/inbound on the public host; set it as the
"when a message comes in" URL of each number, LaML/cXML). The business is the one whose number was
texted; the text is handled in its schema (messaging/inbound.py), and a reply that is not a keyword
notifies its staff. The answer is cXML.

The request must carry SignalWire's signature of the compatibility API: `X-SignalWire-Signature` =
base64(HMAC-SHA1(signing key, the URL SignalWire called + each POST parameter's name and value,
sorted by name)). Without `SIGNALWIRE_SIGNING_KEY` set every request is refused: nothing unsigned is
trusted to opt a customer out or to reach staff.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_tenants.utils import tenant_context

from core import clock
from messaging.inbound import sms_inbound_handle
from notifications import events
from tenants.selectors import tenant_for_called_number


def signalwire_signature(*, key: str, url: str, params: dict[str, list[str]]) -> str:
    payload = url + "".join(name + value for name in sorted(params) for value in params[name])
    return base64.b64encode(hmac.new(key.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def _called_url(request) -> str:
    # Behind the edge proxy the request arrives as http; SignalWire signed the https address.
    return f"{settings.SITE_SCHEME}://{request.get_host()}{request.get_full_path()}"


def _cxml(answer: str = "") -> HttpResponse:
    body = f"<Message>{escape(answer)}</Message>" if answer else ""
    return HttpResponse(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
                        content_type="application/xml")


@csrf_exempt
@require_POST
def sms_inbound(request):
    key = settings.SIGNALWIRE_SIGNING_KEY
    signature = request.headers.get("X-SignalWire-Signature") or request.headers.get("X-Twilio-Signature") or ""
    params = {name: request.POST.getlist(name) for name in request.POST}
    if not key or not hmac.compare_digest(signature, signalwire_signature(key=key, url=_called_url(request),
                                                                            params=params)):
        return HttpResponseForbidden("invalid_signature: the request is not signed with this platform's "
                                     "SignalWire signing key.", content_type="text/plain")
    tenant = tenant_for_called_number(called_number=request.POST.get("To", ""))
    if tenant is None:
        return _cxml()  # a number no business uses (any more): nothing to do, nothing to say
    with tenant_context(tenant):
        from tenants.agent.selectors import agent_settings_get

        business = agent_settings_get().business_name or tenant.name
        outcome = sms_inbound_handle(from_number=request.POST.get("From", ""), to_number=request.POST.get("To", ""),
                                     body=request.POST.get("Body", ""), message_id=request.POST.get("MessageSid", ""),
                                     business=business, now=clock.now())
        if outcome.kind == "reply":
            events.sms_reply_received(reply=outcome.reply)
    return _cxml(outcome.answer)
