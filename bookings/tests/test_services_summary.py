"""The services in brief, as the agent's instructions list them."""
from bookings.catalog import services_summary
from bookings.models import Service


def test_it_lists_each_bookable_service_with_duration_price_and_other_names(in_salon):
    assert services_summary().splitlines() == [
        "- Blow Dry (30 min, $35.00); callers may also say: blowout, blow-dry, styling",
        "- Colour (90 min, $120.00); callers may also say: color, dye, highlights",
        "- Haircut (45 min, $45.00); callers may also say: cut, trim, men's cut, women's cut",
    ]


def test_it_leaves_out_retired_services_and_says_when_nothing_can_be_booked(in_salon):
    Service.objects.exclude(name="Haircut").update(active=False)
    Service.objects.filter(name="Haircut").update(price=None, aliases=[], description="Wash, cut and finish")
    assert services_summary() == "- Haircut (45 min): Wash, cut and finish"
    Service.objects.update(active=False)
    assert services_summary() == "No services can be booked at the moment."
