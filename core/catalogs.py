"""Which languages a business may choose: English (the sentences in the code) and every language whose
translation catalog says every sentence a caller hears.

The sentences are marked in the code with gettext (`core/call_phrases.py` for the worker's own, the
voice tools' refusals, offers and confirmations in the domains' voice adapters and services);
`locale/django.pot` lists them (`python manage.py catalog_template` writes it, a test keeps it equal to
what the code marks), and `locale/<lang>/LC_MESSAGES/django.po` translates them. A catalog is complete
when it translates every msgid of the template, none left empty or fuzzy: a language whose catalog is
missing a sentence would have its callers hear that sentence in English, so it is not offered. Adding
a language is completing its catalog (and compiling it: `manage.py compilemessages`).

Babel reads the catalogs (pinned already for CLDR's locale data): Django's own catalog reading is
GNU gettext's compiled `.mo`, which cannot tell a missing sentence from an English one.
"""
from __future__ import annotations

import datetime
import functools
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from django.conf import settings

from core.languages import SUPPORTED, primary_subtag, unsupported_language_message

# The language the msgids are written in: always offered, needs no catalog.
SOURCE_LANGUAGE = "en"
DOMAIN = "django"


def locale_dir() -> Path:
    return Path(settings.LOCALE_PATHS[0])


def template_path() -> Path:
    return locale_dir() / f"{DOMAIN}.pot"


def catalog_path(language: str) -> Path:
    return locale_dir() / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalog_read(path: Path) -> Catalog:
    with path.open("rb") as po:
        return read_po(po)


def catalog_missing(*, language: str) -> list[str]:
    """The template's msgids that `language`'s catalog does not translate (absent, empty or fuzzy)."""
    template = catalog_read(template_path())
    path = catalog_path(language)
    catalog = catalog_read(path) if path.exists() else Catalog()
    missing = []
    for message in template:
        if not message.id:
            continue  # the header
        translated = catalog.get(message.id, context=message.context)
        strings = translated.string if translated is not None else ""
        texts = strings if isinstance(strings, (tuple, list)) else (strings,)
        if translated is None or translated.fuzzy or not all(texts):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


@functools.cache
def offered_languages() -> tuple[str, ...]:
    """English, then every language with a complete catalog that the speech providers cover, by code.
    Read once per process: the catalogs change only with a deploy."""
    complete = sorted(
        path.name for path in locale_dir().iterdir()
        if path.is_dir() and (path / "LC_MESSAGES" / f"{DOMAIN}.po").exists()
        and path.name in SUPPORTED and not catalog_missing(language=path.name)
    )
    return (SOURCE_LANGUAGE, *[code for code in complete if code != SOURCE_LANGUAGE])


def language_offered(language: str) -> bool:
    """Whether calls may be set up in `language` (a region is the business's: es-MX is Spanish)."""
    return primary_subtag(language) in offered_languages()


def language_not_offered_message(language: str) -> str:
    return (f"Calls cannot be taken in {language!r} yet: its translation catalog is not complete, so callers would "
            f"hear some sentences in English. Use one of: {', '.join(offered_languages())}.")


# --- the template: what the code marks -------------------------------------------------------------

# How the code marks a sentence (`gettext as _`, `gettext_noop` for a constant, `ngettext`, `pgettext`).
KEYWORDS = {"_": None, "gettext": None, "gettext_noop": None, "gettext_lazy": None, "ngettext": (1, 2),
            "pgettext": ((1, "c"), 2)}
# Not the product's sentences: tests, migrations, the dev stack and benches, and what is not ours.
SKIPPED_DIRS = {".venv", ".var", ".git", "node_modules", "tests", "migrations", "devstack", "bench", "scripts",
                "locale", "docs", "deploy", "static", "templates", "__pycache__"}


TEMPLATE_DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def project_root() -> Path:
    return Path(settings.BASE_DIR)


def marked_messages() -> Catalog:
    """Every sentence the code marks for translation, as a catalog (the template's content), with the
    files that mark it and the translators' comments."""
    root = project_root()
    # A fixed header: the template changes only when a sentence does.
    catalog = Catalog(project="soniq", version="1", domain=DOMAIN, fuzzy=False, copyright_holder="Soniq",
                      msgid_bugs_address="", creation_date=TEMPLATE_DATE, revision_date=TEMPLATE_DATE)
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if SKIPPED_DIRS.intersection(relative.parts[:-1]):
            continue
        for lineno, message, comments, context in extract_from_file(
                "python", str(path), keywords=KEYWORDS, comment_tags=("Translators:",), strip_comment_tags=True):
            catalog.add(message, None, [(relative.as_posix(), lineno)], auto_comments=comments, context=context)
    return catalog


def catalog_compile(catalog: Catalog) -> bytes:
    """The `.mo` Django reads for `catalog` (fuzzy entries left out, as msgfmt does)."""
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    return compiled.getvalue()


def catalog_write(path: Path, catalog: Catalog) -> None:
    text = BytesIO()
    # Sorted and without line numbers: a change in the code that moves a sentence changes no catalog.
    write_po(text, catalog, width=116, sort_output=True, omit_header=False, include_lineno=False,
             ignore_obsolete=True)
    path.write_bytes(text.getvalue())


def catalogs_update() -> dict[str, list[str]]:
    """Write the template from the code, bring every language's catalog up to it and compile it.
    Returns each language's untranslated msgids."""
    template = marked_messages()
    catalog_write(template_path(), template)
    template = catalog_read(template_path())
    missing = {}
    for language_dir in sorted(path for path in locale_dir().iterdir() if path.is_dir()):
        path = language_dir / "LC_MESSAGES" / f"{DOMAIN}.po"
        catalog = catalog_read(path) if path.exists() else Catalog(locale=language_dir.name, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        catalog_write(path, catalog)
        path.with_suffix(".mo").write_bytes(catalog_compile(catalog_read(path)))
        missing[language_dir.name] = catalog_missing(language=language_dir.name)
    offered_languages.cache_clear()
    return missing


def language_label(language: str) -> str:
    """'Spanish (es)', 'Polish (pl-PL)': the language's English name (CLDR, through Babel) and its code."""
    return f"{spoken_language_name(language)} ({language})"


def language_choice_problem(language: str, *, current: str = "") -> str | None:
    """Why a business cannot choose `language` (None when it can): no speech provider covers it, or
    its catalog is incomplete. A business that already has a language no longer offered keeps it
    (`current`): its calls go on as before, the sentences its catalog lacks in English, and the admin
    says so (`language_kept_warning`); it cannot newly choose one."""
    if problem := unsupported_language_message(language):
        return problem
    if language_offered(language) or (current and language == current):
        return None
    return language_not_offered_message(language)


def language_kept_warning(language: str) -> str | None:
    """The warning for a business whose language is no longer offered; None when it is."""
    if language_offered(language):
        return None
    return (f"Callers hear some sentences in English: the {language_label(language)} translation is not complete. "
            f"Choose one of the offered languages, or keep this one until its translation is done.")


def spoken_language_name(language: str) -> str:
    """'Spanish' for es or es-MX (CLDR's English name of the primary language, through Babel)."""
    try:
        return Locale.parse(primary_subtag(language) or SOURCE_LANGUAGE).get_display_name("en")
    except (UnknownLocaleError, ValueError):
        return language
