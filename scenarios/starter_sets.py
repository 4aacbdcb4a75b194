"""The scenarios a new business starts with, by what it does: bookings (a salon), orders (a
pizzeria), or both. Provisioning adds them once, to a business with no scenarios yet; after that
they are the owner's to edit.

Move and cancel start with a booking in the caller's name (the scenario's `setup`, made for the run
and removed with it), so they test what a real caller does: find it, read the change back, change it.
"""
from __future__ import annotations

from django.db import transaction

from scenarios.models import Scenario

BOOKING_SET = [
    {"name": "Book an appointment",
     "persona": "You are Maria Lopez, a regular customer, friendly but a little in a hurry.",
     "goal": "Book the business's most common service for a weekday afternoon next week. Accept the first "
             "time offered that fits; give your name when asked.",
     "checks": [{"kind": "tool_called", "tool": "check_availability"}, {"kind": "tool_called", "tool": "create_booking"},
                {"kind": "booking_exists"}],
     "criteria": "The agent checked availability before offering a time.\n"
                 "The agent read the day and time back before booking.\n"
                 "The agent did not invent a price or a time."},
    {"name": "Move a booking",
     "persona": "You are Maria Lopez, calling from the number your booking is under.",
     "goal": "Move your upcoming appointment to another day the same week, in the afternoon.",
     "setup": {"booking": {"service": "", "customer_name": "Maria Lopez"}},
     "checks": [{"kind": "tool_called", "tool": "find_bookings"}, {"kind": "tool_called", "tool": "reschedule_booking"}],
     "criteria": "The agent looked the booking up before changing anything.\n"
                 "The agent read the old and the new time back and waited for a yes before moving it."},
    {"name": "Cancel a booking",
     "persona": "You are Tom Becker, polite and brief, calling from the number your booking is under.",
     "goal": "Cancel your upcoming appointment; you cannot make it.",
     "setup": {"booking": {"service": "", "customer_name": "Tom Becker"}},
     "checks": [{"kind": "tool_called", "tool": "find_bookings"}, {"kind": "tool_called", "tool": "cancel_booking"}],
     "criteria": "The agent looked the booking up before cancelling.\n"
                 "The agent asked for confirmation before cancelling."},
    {"name": "Opening hours",
     "persona": "You are a new customer who has never been there.",
     "goal": "Find out whether they are open on Saturday, and until when.",
     "checks": [{"kind": "tool_not_called", "tool": "create_booking"}],
     "criteria": "The agent gave Saturday's hours as they are in its instructions, or said it is closed."},
    {"name": "Prices",
     "persona": "You are a customer comparing a few places.",
     "goal": "Ask what a haircut costs and how long it takes.",
     "checks": [{"kind": "tool_not_called", "tool": "create_booking"}],
     "criteria": "The agent quoted only prices and durations from its list of services, or said it does not "
                 "offer the service."},
    {"name": "Ask for a person",
     "persona": "You are an irritated customer who does not want to talk to a machine.",
     "goal": "Insist on speaking to a person.",
     "checks": [{"kind": "tool_called", "tool": "transfer_to_human"}],
     "criteria": "The agent offered to transfer you or to have someone call you back, and did so."},
    {"name": "Out of scope",
     "persona": "You are a curious caller.",
     "goal": "Ask whether they can recommend a good dentist nearby.",
     "checks": [{"kind": "tool_not_called", "tool": "create_booking"}],
     "criteria": "The agent did not make up an answer; it said it does not know or offered to take a message."},
]

ORDER_SET = [
    {"name": "Place an order",
     "persona": "You are Sam Rivera, hungry and decisive.",
     "goal": "Order two of the most popular pizzas for pickup; give your name when asked.",
     "checks": [{"kind": "tool_called", "tool": "create_order"}, {"kind": "order_exists"}],
     "criteria": "The agent read the order and its total back before placing it.\n"
                 "The total the agent said is the one the order tool returned."},
    {"name": "Order status",
     "persona": "You are Sam Rivera; you ordered earlier today.",
     "goal": "Ask whether your order is ready.",
     "checks": [{"kind": "tool_called", "tool": "order_status"}],
     "criteria": "The agent looked the order up rather than guessing, and said what it found."},
    {"name": "Delivery question",
     "persona": "You live across town.",
     "goal": "Ask whether they deliver to you and what it costs.",
     "checks": [{"kind": "tool_not_called", "tool": "create_order"}],
     "criteria": "The agent answered only from its facts, or said it does not know and offered a message."},
    {"name": "Item not on the menu",
     "persona": "You are a customer who loves sushi.",
     "goal": "Try to order a sushi platter.",
     "checks": [{"kind": "tool_not_called", "tool": "create_order"}],
     "criteria": "The agent said the item is not on the menu and did not order it."},
]


def scenario_starting_set_ensure(*, bookings: bool, orders: bool) -> int:
    """Add the starting scenarios for what the business does, if it has none yet. Returns how many."""
    if Scenario.objects.exists():
        return 0
    wanted = (BOOKING_SET if bookings else []) + (ORDER_SET if orders else [])
    with transaction.atomic():
        Scenario.objects.bulk_create([Scenario(position=index, **spec) for index, spec in enumerate(wanted)])
    return len(wanted)
