"""The one way Soniq compares what a caller said with a name it knows (a service, a menu item).

Both sides are turned into a *key*: plain lower-case ASCII words (accents, apostrophes and
punctuation dropped), each word made singular. "Blow-Dry!" and "blow dries", "Tiramisù" and
"tiramisu", "Luigi's" and "luigis" then compare equal.
"""
import re
import unicodedata


def fold(text: str) -> str:
    """Lower-case ASCII words separated by single spaces: 'Blow-Dry!' -> 'blow dry', 'Tiramisù' -> 'tiramisu'."""
    # NFKD splits 'ù' into 'u' + a combining accent, and turns compatibility forms (full-width
    # letters, ligatures such as 'ﬁ') into plain ones; the combining marks are then dropped.
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = stripped.casefold().replace("ß", "ss").replace("&", " and ")
    folded = re.sub(r"['’`´]", "", folded)  # "Luigi's" -> "luigis", not "luigi s"
    return " ".join(re.findall(r"[a-z0-9]+", folded))


def singular(word: str) -> str:
    """English plural to singular, good enough for what businesses sell ('haircuts', 'pizzas',
    'lashes', 'berries'). Applied to both sides of a comparison, so an odd result cancels out."""
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def key(text: str) -> str:
    return " ".join(singular(word) for word in fold(text).split())
