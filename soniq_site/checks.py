"""Deploy checks of our own, next to Django's (`manage.py check --deploy`): settings that Django
cannot know are dangerous for Soniq."""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register

# The internal token lets anyone start calls for any tenant: it must not be guessable. 32 characters
# is what `python -c "import secrets; print(secrets.token_urlsafe(24))"` gives.
INTERNAL_API_TOKEN_MIN_LENGTH = 32


@register(Tags.security, deploy=True)
def soniq_deploy_check(app_configs, **kwargs) -> list[Warning]:
    warnings: list[Warning] = []
    token = getattr(settings, "INTERNAL_API_TOKEN", "") or ""
    if not token:
        warnings.append(Warning(
            "INTERNAL_API_TOKEN is not set: the voice worker cannot start calls.",
            hint="Set INTERNAL_API_TOKEN to a long random secret shared with the voice worker.",
            id="soniq.W001",
        ))
    elif len(token) < INTERNAL_API_TOKEN_MIN_LENGTH:
        warnings.append(Warning(
            f"INTERNAL_API_TOKEN is shorter than {INTERNAL_API_TOKEN_MIN_LENGTH} characters and can be guessed.",
            hint='Generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"',
            id="soniq.W002",
        ))
    if "*" in settings.ALLOWED_HOSTS:
        warnings.append(Warning(
            "ALLOWED_HOSTS contains '*': any Host header is accepted, and every unknown host falls back "
            "to the platform's public host.",
            hint="List the platform's domain and the tenants' parent domain (e.g. soniq.example.com,.soniq.example.com).",
            id="soniq.W003",
        ))
    return warnings
