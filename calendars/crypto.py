"""Calendar secrets at rest: Google's OAuth tokens and CalDAV app passwords are Fernet-encrypted
(AES-128-CBC + HMAC-SHA256, `cryptography`) before they reach the database, so a database dump or a
backup alone does not hand out access to the businesses' calendars.

Keys come from CALENDAR_ENCRYPTION_KEYS (comma-separated Fernet keys): the first encrypts, all
decrypt, so a key is rotated by putting the new one first (`secret_rotate` re-encrypts). Unset, one
key is derived from SECRET_KEY, so a deployment works without one more secret; but then changing
SECRET_KEY makes the stored credentials unreadable, and each calendar asks its owner to connect again
(`SecretUnreadable` is handled like revoked access)."""
from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored secret was encrypted with a key this deployment no longer has."""


def _fernet() -> MultiFernet:
    keys = list(settings.CALENDAR_ENCRYPTION_KEYS)
    if not keys:
        derived = hashlib.sha256(f"soniq-calendars:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def secret_seal(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def secret_open(sealed: str) -> str:
    if not sealed:
        return ""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable("The calendar's stored credentials cannot be decrypted with CALENDAR_ENCRYPTION_KEYS.") from error


def secret_rotate(sealed: str) -> str:
    return _fernet().rotate(sealed.encode()).decode() if sealed else ""
