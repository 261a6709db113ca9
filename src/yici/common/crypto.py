"""Encryption at rest for stored secrets (connector signing secrets, tokens of line systems).

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``). The keys come from
``YICI_ENCRYPTION_KEYS`` (comma-separated Fernet keys, or ``YICI_ENCRYPTION_KEYS_FILE``): the first
encrypts, all decrypt, so a key is rotated by putting the new one first and running
``yici rotate-secrets``. Without that setting one key is derived from ``SECRET_KEY`` with HKDF, so
a fresh install needs no extra step, and changing SECRET_KEY then needs the old one listed.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"yici-secrets-v1", info=b"encryption at rest")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    materials = [k.encode() for k in keys] if keys else [_derived_key(secret_key)]
    return MultiFernet([Fernet(k) for k in materials])


def _current() -> MultiFernet:
    keys = tuple(k.strip() for k in getattr(settings, "YICI_ENCRYPTION_KEYS", []) if k.strip())
    return _fernet(keys, settings.SECRET_KEY)


def encrypt(plain: str) -> str:
    return _current().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be decrypted: check YICI_ENCRYPTION_KEYS") from None


def rotate(token: str) -> str:
    """Re-encrypt with the first (newest) key."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be decrypted: check YICI_ENCRYPTION_KEYS") from None


def new_key() -> str:
    return Fernet.generate_key().decode()
