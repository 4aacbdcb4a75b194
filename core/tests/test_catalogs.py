"""The translation catalogs: every sentence a caller hears is marked in the code, listed in the
template, translated in every offered language, and compiled into the committed `.mo` that Django
reads. A sentence added in English without its translations fails here."""
from __future__ import annotations

import gettext
import io
import re
import shutil

import pytest
from django.core.management import call_command

from core.catalogs import (
    catalog_compile,
    catalog_path,
    catalog_read,
    locale_dir,
    marked_messages,
    offered_languages,
    template_path,
)

PLACEHOLDER = re.compile(r"{(\w*)}")


def _keys(catalog) -> set[tuple]:
    return {(message.id if isinstance(message.id, str) else tuple(message.id), message.context)
            for message in catalog if message.id}


def _languages() -> list[str]:
    return sorted(path.name for path in locale_dir().iterdir() if path.is_dir())


def test_it_lists_in_the_template_exactly_the_sentences_the_code_marks():
    marked, template = _keys(marked_messages()), _keys(catalog_read(template_path()))
    assert marked - template == set(), "run `python manage.py catalogs_update` and translate the new sentences"
    assert template - marked == set(), "run `python manage.py catalogs_update`: the template lists removed sentences"


def test_it_offers_english_and_every_language_whose_catalog_is_complete():
    offered = offered_languages()
    assert offered[0] == "en"
    assert "es" in offered
    # German has only its filler so far: its callers would hear English refusals.
    assert "de" not in offered


@pytest.mark.parametrize("language", [code for code in offered_languages() if code != "en"])
def test_it_translates_every_sentence_of_an_offered_language_with_the_same_placeholders(language):
    template = catalog_read(template_path())
    catalog = catalog_read(catalog_path(language))
    untranslated, wrong_placeholders = [], []
    for message in template:
        if not message.id:
            continue
        translated = catalog.get(message.id, context=message.context)
        strings = () if translated is None else (
            translated.string if isinstance(translated.string, (tuple, list)) else (translated.string,))
        if translated is None or translated.fuzzy or not strings or not all(strings):
            untranslated.append(message.id)
            continue
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        expected = set(PLACEHOLDER.findall(" ".join(ids)))
        if any(set(PLACEHOLDER.findall(text)) != expected for text in strings):
            wrong_placeholders.append(message.id)
    assert untranslated == []
    assert wrong_placeholders == []


@pytest.mark.parametrize("language", [path.name for path in locale_dir().iterdir() if path.is_dir()])
def test_the_committed_mo_is_the_compiled_po(language):
    po = catalog_path(language)
    committed = gettext.GNUTranslations(io.BytesIO(po.with_suffix(".mo").read_bytes()))
    compiled = gettext.GNUTranslations(io.BytesIO(catalog_compile(catalog_read(po))))
    assert committed._catalog == compiled._catalog  # noqa: SLF001 - the messages, not the bytes (compilers differ)


def test_catalogs_update_leaves_the_committed_catalogs_as_they_are(tmp_path, settings):
    copy = tmp_path / "locale"
    shutil.copytree(locale_dir(), copy)
    settings.LOCALE_PATHS = [copy]
    out = io.StringIO()
    try:
        call_command("catalogs_update", stdout=out)
    finally:
        offered_languages.cache_clear()
    assert "es: complete" in out.getvalue()
    for language in _languages():
        assert (copy / language / "LC_MESSAGES" / "django.po").read_bytes() == catalog_path(language).read_bytes(), (
            f"locale/{language} is not what `python manage.py catalogs_update` writes: run it")
    assert (copy / "django.pot").read_bytes() == template_path().read_bytes()


def test_no_sentence_is_marked_inside_an_f_string():
    # The extractor cannot see `_()` inside an f-string's braces: such a sentence would be said in
    # English whatever the catalogs hold. Compute it first, then put it in.
    from core.catalogs import SKIPPED_DIRS, project_root

    inside = re.compile(r"""\bf(["']).*\{[^}]*\b(_|gettext|pgettext|ngettext)\(""")
    found = []
    for path in sorted(project_root().rglob("*.py")):
        relative = path.relative_to(project_root())
        if SKIPPED_DIRS.intersection(relative.parts[:-1]):
            continue
        found += [f"{relative}:{number}" for number, line in enumerate(path.read_text().splitlines(), 1)
                  if inside.search(line)]
    assert found == []


# Refusals that reach the worker or the admin, never a caller: a malformed call, a token, a log, staff's
# order and callback screens. Every other DomainError is a sentence the agent says.
NOT_SAID_TO_CALLERS = {
    "invalid_request", "call_ended", "unknown_tool", "payload_too_large", "wrong_call", "unknown_call", "unknown_number",
    "invalid_recording", "recording_already_received", "storage_unavailable", "log_already_received",
    "invalid_end_time", "ingestion_unavailable", "idempotency_key_reused", "draft_expired", "invalid_outcome",
    "order_not_found", "illegal_status_change", "invalid_status", "callback_not_found",
    # The worker's report of a callback the agent placed (/internal/calls/<id>/callback-attempt) and its start.
    "invalid_result", "unknown_callback", "callback_attempt_taken", "attempt_already_recorded",
}


def test_every_sentence_a_caller_hears_from_the_api_is_marked_for_translation():
    """A refusal (`DomainError(code, "...")`) or a tool's answer (`ToolOutcome(message="...")`) written as a
    plain literal would be said in English to every caller, whatever the catalogs hold."""
    import ast

    from core.catalogs import SKIPPED_DIRS, project_root

    def literal(node) -> bool:
        return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))

    unmarked = []
    for path in sorted(project_root().rglob("*.py")):
        relative = path.relative_to(project_root())
        if SKIPPED_DIRS.intersection(relative.parts[:-1]) or relative.parts[0] in ("voiceworker", "testing", "core"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id == "DomainError" and len(node.args) >= 2 and literal(node.args[1]):
                code = node.args[0].value if isinstance(node.args[0], ast.Constant) else "?"
                if code not in NOT_SAID_TO_CALLERS:
                    unmarked.append(f"{relative}:{node.lineno} {code}")
            if node.func.id == "ToolOutcome":
                message = next((keyword.value for keyword in node.keywords if keyword.arg == "message"), None)
                if message is not None and literal(message) and not (isinstance(message, ast.Constant) and not message.value):
                    unmarked.append(f"{relative}:{node.lineno} ToolOutcome")
    assert unmarked == []
