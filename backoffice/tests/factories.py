"""Small helpers for the admin tests: logged-in clients for the demo owners and the operator, and
factories for the phone activity the admin shows. The admin-client fixtures are in conftest.py."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.test import Client
from django_tenants.utils import schema_context

from bookings.models import Booking, Service
from calls.models import Call, ToolInvocation, TranscriptTurn
from orders.models import MenuItem, Order, OrderLine

SALON_HOST = "salon.localhost"
PIZZERIA_HOST = "pizzeria.localhost"
OPERATOR_HOST = "localhost"
SALON_OWNER = ("owner@salon.example", "salon-demo-2026")
PIZZERIA_OWNER = ("owner@pizzeria.example", "pizzeria-demo-2026")


def owner_client(schema_name: str, host: str, username: str) -> Client:
    """A client logged in as a tenant owner. The session is written in the tenant's schema, where
    the tenant admin (reached through `host`) looks for it."""
    client = Client(HTTP_HOST=host)
    with schema_context(schema_name):
        client.force_login(get_user_model().objects.get(username=username))
    return client


def call_make(*, started_at: dt.datetime, caller_number: str = "+15550123456", called_number: str = "+15550100001",
              duration_seconds: str | None = "95", outcome: str = "answered", turns: list[tuple[str, str]] = (),
              tools: list[tuple] = (), **fields) -> Call:
    """A finished call in the current schema, with its transcript ([(role, text), ...], turn i at 4·i
    seconds) and tool calls ([(name, arguments, result[, offset seconds]), ...])."""
    call = Call.objects.create(
        caller_number=caller_number, called_number=called_number, started_at=started_at,
        status=Call.Status.ENDED if duration_seconds is not None else Call.Status.ACTIVE,
        ended_at=started_at + dt.timedelta(seconds=float(duration_seconds)) if duration_seconds is not None else None,
        duration_seconds=Decimal(duration_seconds) if duration_seconds is not None else None,
        outcome=outcome if duration_seconds is not None else "", **fields,
    )
    TranscriptTurn.objects.bulk_create([
        TranscriptTurn(call=call, sequence=index, role=role, text=text, offset_seconds=Decimal(index * 4))
        for index, (role, text) in enumerate(turns)
    ])
    ToolInvocation.objects.bulk_create([
        ToolInvocation(call=call, sequence=index, name=tool[0], arguments=tool[1], result=tool[2],
                       offset_seconds=Decimal(str(tool[3] if len(tool) > 3 else index * 4 + 2)))
        for index, tool in enumerate(tools)
    ])
    return call


def booking_make(*, service_name: str, start: dt.datetime, customer_name: str = "Maria Lopez", lane: int = 0,
                 call: Call | None = None, status: str = Booking.Status.CONFIRMED) -> Booking:
    service = Service.objects.get(name=service_name)
    end = start + dt.timedelta(minutes=service.duration_minutes)
    return Booking.objects.create(
        service=service, start=start, end=end, blocked_until=end + dt.timedelta(minutes=service.buffer_minutes),
        lane=lane, customer_name=customer_name, customer_phone="+15550123456", call=call, status=status,
    )


def order_make(*, items: list[tuple[str, int]], status: str = Order.Status.NEW, call: Call | None = None,
               customer_name: str = "Luca Rossi") -> Order:
    menu = {item.name: item for item in MenuItem.objects.all()}
    lines = [(menu[name], quantity) for name, quantity in items]
    order = Order.objects.create(
        status=status, customer_name=customer_name, customer_phone="+15550123456", call=call, currency="EUR",
        total=sum((item.price * quantity for item, quantity in lines), Decimal("0")),
    )
    OrderLine.objects.bulk_create([
        OrderLine(order=order, menu_item=item, name=item.name, quantity=quantity, unit_price=item.price,
                  line_total=item.price * quantity)
        for item, quantity in lines
    ])
    return order
