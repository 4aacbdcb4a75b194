"""What the business offers: matching the service a caller names, and the list the agent's instructions show."""
from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from bookings import matching
from bookings.models import Service
from core.errors import DomainError
from core.phrasing import spoken_list

CURRENCY_SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£"}


def a_service(service: Service) -> str:
    """'a Haircut', 'an Eyebrow Wax' (in a language with gendered articles, the bare name: the
    sentences around it are written so it reads right, "una cita de Corte")."""
    if service.name[:1].lower() in "aeiou":
        return pgettext("article before a service name", "an {service}").format(service=service.name)
    return pgettext("article before a service name", "a {service}").format(service=service.name)


def _spoken_service_list(names: list[str]) -> str:
    return spoken_list(names, conjunction="and") if names else _("nothing at the moment")


def service_match(*, spoken_name: str) -> Service:
    """The active service a caller means by `spoken_name` (see `bookings.matching` for how).

    Raises `DomainError("unknown_service")` (422) with a sentence naming the services offered, and
    `details={"services": [names]}`.
    """
    services = list(Service.objects.filter(active=True).order_by("name"))
    spoken = spoken_name if isinstance(spoken_name, str) else ""
    service = matching.best_match(spoken, ((service, [service.name, *service.aliases]) for service in services))
    if service is not None:
        return service
    names = [service.name for service in services]
    if spoken.strip():
        message = _("Sorry, we don't offer {asked}. We offer {services}.").format(
            asked=spoken.strip()[:80], services=_spoken_service_list(names))
    else:
        message = _("Which service would you like? We offer {services}.").format(services=_spoken_service_list(names))
    raise DomainError("unknown_service", message, details={"services": names})


def _spoken_price(price, currency: str) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{price}" if symbol else f"{price} {currency}"


def services_summary() -> str:
    """One line per bookable service for the agent's instructions:
    `- Haircut (45 min, $45.00); callers may also say: cut, trim`."""
    lines = []
    for service in Service.objects.filter(active=True).order_by("name"):
        facts = [f"{service.duration_minutes} min"]
        if service.price is not None:
            facts.append(_spoken_price(service.price, service.currency))
        line = f"- {service.name} ({', '.join(facts)})"
        if service.description:
            line += f": {service.description}"
        if service.aliases:
            line += f"; callers may also say: {', '.join(service.aliases)}"
        lines.append(line)
    return "\n".join(lines) or "No services can be booked at the moment."
