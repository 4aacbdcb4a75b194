"""The languages a phone agent can take calls in: where speech recognition (Deepgram) and the voice
(Cartesia) both cover it. Plain data, imported by the tenant settings (to refuse a language no
provider supports) and the voice worker (to pick the recognition model); no app knowledge here.

Deepgram's Nova-3 `multi` model recognises ten languages and switches between them mid-call; any
other language needs Nova-3's monolingual model for that language (`language=<code>`), which
cannot follow a caller who switches. voiceworker/tests/test_failure_paths.py checks these lists
against the installed plugins' language literals.
"""
from __future__ import annotations

# Nova-3 multilingual (code-switching).
DEEPGRAM_MULTI = frozenset({"en", "es", "fr", "de", "hi", "ru", "pt", "ja", "it", "nl"})
# Nova-3 monolingual models beyond those ten (Deepgram's 2025 European expansion).
DEEPGRAM_NOVA3_MONOLINGUAL = frozenset({"bg", "cs", "da", "el", "et", "fi", "hu", "lt", "lv", "no", "pl", "ro", "sk",
                                        "sv", "tr", "uk"})
# Cartesia sonic-3 (the plugin's TTSLanguages).
CARTESIA = frozenset({"en", "es", "fr", "de", "pt", "zh", "ja", "hi", "ko", "it", "nl", "pl", "ru", "sv", "tr", "tl",
                      "bg", "ro", "ar", "cs", "el", "fi", "hr", "ms", "sk", "da", "ta", "uk", "hu", "no", "vi", "bn",
                      "th", "he", "ka", "id", "te", "gu", "kn", "ml", "mr", "or", "pa", "ur"})
SUPPORTED = frozenset((DEEPGRAM_MULTI | DEEPGRAM_NOVA3_MONOLINGUAL) & CARTESIA)


def primary_subtag(language: str) -> str:
    """"de" for "de-DE" (BCP 47)."""
    return (language or "").strip().split("-")[0].split("_")[0].lower()


def unsupported_language_message(language: str) -> str | None:
    """None when calls can be taken in `language`; otherwise a sentence saying why not."""
    if primary_subtag(language) in SUPPORTED:
        return None
    return (f"Calls cannot be taken in {language!r}: no speech provider Soniq uses supports it. "
            f"Use one of: {', '.join(sorted(SUPPORTED))}.")
