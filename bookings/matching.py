"""Finding the service a caller means from the words they (or the model) used.

Callers say "two haircuts", "a trim please", "colouring", "blow-dry" or "hiarcut" (a speech-to-text
slip). Matching compares *keys*: text folded to plain lower-case ASCII words (accents, apostrophes
and punctuation dropped), each word made singular, with filler words ("a", "please",
"appointment") peeled off. In order of preference:

1. the key equals a service's name or alias key (spaces ignored: "blowdry" is "blow dry");
2. a service's name or alias appears as whole words in what was said ("a ladies haircut"), and
   only one service's does;
3. one small misspelling, judged with difflib, and only when a single service is that close — a
   guess between two services is worse than asking again.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TypeVar

from rapidfuzz.distance import OSA

from core.text_keys import fold, key, singular

T = TypeVar("T")

# Words that surround a service's name in what a caller says but are not part of it.
FILLER_WORDS = {
    "a", "an", "the", "one", "two", "three", "some", "my", "our", "for", "of", "just", "please", "thanks",
    "appointment", "appointments", "booking", "bookings", "session", "sessions", "slot", "slots",
    "service", "services", "i", "id", "like", "want", "to", "book", "get", "have", "need",
}
# How close a misheard name must be (difflib ratio on the compacted key) to count as that name,
# and how far ahead of the runner-up it must be so that the guess is not a coin toss.
FUZZY_CUTOFF = 0.8
FUZZY_MARGIN = 0.05
FUZZY_MIN_LENGTH = 4
# No service name is a paragraph long; difflib's cost grows with the text, so long text is not compared.
FUZZY_MAX_LENGTH = 60


def _compact(text_key: str) -> str:
    return text_key.replace(" ", "")


def _spoken_key(spoken: str) -> str:
    words = [word for word in fold(spoken).split() if word not in FILLER_WORDS]
    return " ".join(singular(word) for word in words)


def best_match(spoken: str, candidates: Iterable[tuple[T, Iterable[str]]]) -> T | None:
    """The one candidate whose names match `spoken`, or None. `candidates` pairs each thing with its
    names (name first, then aliases)."""
    keyed: list[tuple[T, list[str]]] = []
    for thing, names in candidates:
        # A name may itself start with a filler word ("The Works"), so both forms are kept.
        keys = list(dict.fromkeys(k for name in names for k in (key(name), _spoken_key(name)) if k))
        keyed.append((thing, keys))
    full, wanted = key(spoken), _spoken_key(spoken)
    if not wanted:
        return None

    # 1. Exactly a name or alias.
    said = {_compact(full), _compact(wanted)}
    exact = [thing for thing, keys in keyed if said & {_compact(k) for k in keys}]
    if exact:
        return exact[0] if len(exact) == 1 else None

    # 2. A name or alias said among other words: "ladies haircut", "haircut and wash".
    padded = f" {full} "
    # Two services named in one breath ("a cut and a colour") are two bookings, not a guess.
    contained = {id(thing): thing for thing, keys in keyed if any(f" {k} " in padded for k in keys)}
    if contained:
        return next(iter(contained.values())) if len(contained) == 1 else None

    # 3. A small misspelling of a name or alias.
    compact_wanted = _compact(wanted)
    if not FUZZY_MIN_LENGTH <= len(compact_wanted) <= FUZZY_MAX_LENGTH:
        return None
    scored = sorted(
        ((max(difflib.SequenceMatcher(None, compact_wanted, _compact(k)).ratio() for k in keys), index)
         for index, (_thing, keys) in enumerate(keyed) if keys),
        reverse=True,
    )
    if not scored or scored[0][0] < FUZZY_CUTOFF:
        return None
    if len(scored) > 1 and scored[0][0] - scored[1][0] < FUZZY_MARGIN:
        return None
    return keyed[scored[0][1]][0]


def customer_name_matches(said: str, booked: str) -> bool:
    """Whether the name a caller gives is the name a booking was made under: case, accents, spaces and
    punctuation do not count ("Zoë O'Neil" is "zoe oneil"), and one small misspelling is forgiven (one
    letter wrong, missing, extra, or two neighbours swapped: a speech-to-text slip, "Ann Smyth").
    Nothing looser: the name guards a booking against a spoofed caller id (issue 29, item 3), and
    difflib's ratio let "Victor Vance" unlock "Victoria Vance"."""
    said_key, booked_key = _compact(key(said or "")), _compact(key(booked or ""))
    if not said_key or not booked_key:
        return False
    if said_key == booked_key:
        return True
    if min(len(said_key), len(booked_key)) < FUZZY_MIN_LENGTH or max(len(said_key), len(booked_key)) > FUZZY_MAX_LENGTH:
        return False
    return OSA.distance(said_key, booked_key, score_cutoff=1) <= 1
