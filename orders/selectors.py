"""Reads about the menu: finding the item a caller means, and the menu in brief for the agent.

Callers do not say menu names the way they are printed: "two margheritas", "a coke", "peperoni",
"tiramisù", "the four cheese one". Matching therefore compares *keys*: text folded to plain
lower-case ASCII words (accents and punctuation dropped, leading counts and articles dropped, each
word made singular), for the item's name, its aliases and "name + category" ("margherita pizza").
An exact key wins; otherwise one small misspelling is allowed per few letters, and only when a single
item is that close — a guess between two items is worse than asking again.
"""
from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core import clock
from core.errors import DomainError, ToolOutcome
from core.phone import is_e164
from core.phrasing import spoken_clock, spoken_list
from core.text_keys import key
from orders.models import MenuItem, Order
from tenants.selectors import tenant_timezone

# Words a caller puts before the item that are not part of its name ("two margheritas",
# "a coke", "another garlic bread"). The quantity itself travels in its own field. Number words
# may also be part of a name ("four cheese"), so the text is tried with and without them.
LEADING_FILLER = {
    "a", "an", "the", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "dozen", "half", "couple", "of", "some", "another", "more", "x",
}
TRAILING_FILLER = {"please", "thanks", "thank", "you"}
CLOSEST_COUNT = 3
# Menu names and aliases are at most 100 characters; anything past this cannot help the match and
# would only make the fuzzy comparison slow (a 100 KB "item name" must still be answered quickly).
SPOKEN_MAX = 200


@dataclass(frozen=True)
class _Candidate:
    item: MenuItem
    keys: tuple[str, ...]


def _spoken_keys(spoken_name: str) -> list[str]:
    """The key of what the caller said, then the same with counts, articles and "please" peeled off
    one word at a time: "two four cheese" is tried as itself, as "four cheese" and as "cheese"."""
    words = key(spoken_name).split()
    while words and words[-1] in TRAILING_FILLER:
        words = words[:-1]
    keys = [" ".join(words)] if words else []
    while len(words) > 1 and (words[0] in LEADING_FILLER or words[0].isdigit()):
        words = words[1:]
        keys.append(" ".join(words))
    return keys


def _candidates(items: Iterable[MenuItem]) -> list[_Candidate]:
    candidates = []
    for item in items:
        names = [item.name, *item.aliases]
        if item.category:
            names.append(f"{item.name} {item.category}")
        keys = tuple(dict.fromkeys(key for key in (key(name) for name in names) if key))
        candidates.append(_Candidate(item=item, keys=keys))
    return candidates


def _compact(key: str) -> str:
    # "coca cola", "cocacola" and "coca-cola" are the same drink.
    return key.replace(" ", "")


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, stopping early past `limit`:
    one typo, one missing or doubled letter, or two swapped letters each count 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous_previous: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous_previous[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous_previous, previous = previous, current
    return previous[-1]


def _typos_allowed(key: str) -> int:
    """How many slips a spoken name of this length may have. Short words get none: 'cake' must not
    become 'coke'."""
    length = len(_compact(key))
    if length <= 4:
        return 0
    if length <= 8:
        return 1
    return 2


def _similarity(spoken: str, candidate: _Candidate) -> float:
    """How close a spoken key is to an item, for naming the closest items (not for matching)."""
    spoken_words = set(spoken.split())
    best = 0.0
    for candidate_key in candidate.keys:
        ratio = difflib.SequenceMatcher(None, _compact(spoken), _compact(candidate_key)).ratio()
        shared = len(spoken_words & set(candidate_key.split())) / max(len(spoken_words | set(candidate_key.split())), 1)
        best = max(best, ratio, shared)
    return best


def _find(spoken_keys: list[str], candidates: list[_Candidate]) -> _Candidate | None:
    for spoken in spoken_keys:
        exact = [c for c in candidates if spoken in c.keys or _compact(spoken) in map(_compact, c.keys)]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:  # a name shared by two items (an alias reused): prefer one that is available
            available = [c for c in exact if c.item.available]
            return (available or exact)[0]
    for spoken in spoken_keys:
        limit = _typos_allowed(spoken)
        if not limit:
            continue
        scored = []
        for candidate in candidates:
            distance = min(_edit_distance(_compact(spoken), _compact(key), limit) for key in candidate.keys)
            if distance <= limit:
                scored.append((distance, candidate))
        if not scored:
            continue
        scored.sort(key=lambda pair: pair[0])
        best_distance = scored[0][0]
        nearest = [candidate for distance, candidate in scored if distance == best_distance]
        if len(nearest) == 1:
            return nearest[0]
        return None  # two items equally near: ask rather than guess
    return None


def _closest(spoken_keys: list[str], candidates: list[_Candidate], *, category: str = "") -> list[MenuItem]:
    available = [c for c in candidates if c.item.available]

    def score(candidate: _Candidate) -> tuple[bool, float]:
        # For an item that is off today, the same kind of thing (another pizza) is the best offer.
        same_category = bool(category) and candidate.item.category == category
        return same_category, max(_similarity(spoken, candidate) for spoken in spoken_keys)

    available.sort(key=score, reverse=True)
    return [c.item for c in available[:CLOSEST_COUNT]]


def _spoken_list(names: list[str]) -> str:
    return spoken_list(names)


def menu_load() -> list[MenuItem]:
    """The whole menu, unavailable items included (so they can be named as such), in menu order."""
    return list(MenuItem.objects.order_by("pk"))


def menu_item_match(*, spoken_name: str, menu: Sequence[MenuItem] | None = None) -> MenuItem:
    """The available menu item a caller means by `spoken_name`. `menu` is `menu_load()`'s result when
    several items of one order are matched, so the menu is read once per order, not once per item.

    Raises `DomainError("unknown_item", 422)` naming the closest available items when nothing on the
    menu matches, the match is ambiguous, or the item matched is marked unavailable;
    `details = {"item": spoken_name, "closest": [names]}`.
    """
    # In menu order, so items that are equally close are offered the way the menu lists them.
    candidates = _candidates(menu_load() if menu is None else menu)
    spoken_name = spoken_name if isinstance(spoken_name, str) else ""
    spoken_keys = _spoken_keys(spoken_name[:SPOKEN_MAX])
    found = _find(spoken_keys, candidates) if spoken_keys else None
    if found is not None and found.item.available:
        return found.item

    closest = _closest(spoken_keys or [""], candidates, category=found.item.category if found else "")
    closest_names = [item.name for item in closest]
    offer = (" " + _("The closest we have are {items}.").format(items=_spoken_list(closest_names))
             if closest_names else "")
    said = " ".join((spoken_name or "").split())[:100]
    if found is not None:
        message = _("Sorry, the {item} is not available today.").format(item=found.item.name) + offer
    elif spoken_keys:
        message = _("Sorry, we don't have “{item}” on the menu.").format(item=said) + offer
    else:
        message = _("Which item from the menu would you like?") + offer
    details = {"item": spoken_name[:SPOKEN_MAX], "closest": closest_names}
    if found is not None:
        details["unavailable"] = found.item.name
    raise DomainError("unknown_item", message, details=details)


def menu_summary() -> str:
    """The available menu in brief for the agent's instructions: one line per category, in the
    order the business wrote its menu, e.g. `Pizza: Margherita 9.50 EUR, Pepperoni 11.00 EUR`."""
    by_category: dict[str, list[str]] = {}
    for item in MenuItem.objects.filter(available=True).order_by("pk"):
        by_category.setdefault(item.category or "Other", []).append(f"{item.name} {item.price} {item.currency}")
    if not by_category:
        return "Nothing can be ordered by phone right now."
    return "\n".join(f"{category}: {', '.join(entries)}" for category, entries in by_category.items())


# --- a caller's own orders -----------------------------------------------------------------------

ORDER_STATUS_WINDOW = dt.timedelta(hours=24)
_STATUS_SENTENCES = {
    Order.Status.NEW: gettext_noop("Order {number} has been received"),
    Order.Status.PREPARING: gettext_noop("Order {number} is being prepared"),
    Order.Status.READY: gettext_noop("Order {number} is ready"),
    Order.Status.DONE: gettext_noop("Order {number} has been handed over"),
    Order.Status.CANCELLED: gettext_noop("Order {number} was cancelled"),
}


def order_status(*, caller_number: str, now: dt.datetime | None = None) -> ToolOutcome:
    """order_status: the orders placed from the caller's number in the last 24 hours, newest first.
    A withheld number sees none: an order's number alone is no proof of whose it is.

    Result: `orders`: [{`order_id`, `status`, `fulfillment`, `estimated_ready_at` (ISO, tenant's zone, or
    null), `total` (decimal string), `currency`, `lines`: [{`name`, `quantity`}]}]."""
    now = now or clock.now()
    if not is_e164(caller_number):
        return ToolOutcome(result={"orders": []}, message=_("Your number is withheld, so I can't look up your order. "
                                                            "I can ask someone to call you back about it."))
    tz = tenant_timezone()
    orders = list(Order.objects.filter(customer_phone=caller_number, created__gte=now - ORDER_STATUS_WINDOW)
                  .prefetch_related("lines").order_by("-created", "-pk"))
    result = [{
        "order_id": order.pk, "status": order.status, "fulfillment": order.fulfillment,
        "estimated_ready_at": order.estimated_ready_at.astimezone(tz).isoformat() if order.estimated_ready_at else None,
        "total": str(order.total), "currency": order.currency,
        "lines": [{"name": line.name, "quantity": line.quantity} for line in order.lines.all()],
    } for order in orders]
    if not orders:
        return ToolOutcome(result={"orders": []}, message=_("I can't find an order from your number in the last day."))
    sentences = []
    for order in orders[:3]:
        sentence = _(_STATUS_SENTENCES[order.status]).format(number=order.pk)
        if order.estimated_ready_at and order.status in (Order.Status.NEW, Order.Status.PREPARING):
            sentence += _("; it should be ready at {time}").format(time=spoken_clock(order.estimated_ready_at.astimezone(tz)))
        sentences.append(sentence + ".")
    return ToolOutcome(result={"orders": result}, message=" ".join(sentences))
