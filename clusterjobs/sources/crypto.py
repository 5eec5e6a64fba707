"""The project credentials' values at rest: encrypted with a key derived from ``SECRET_KEY``
(Fernet: AES with an HMAC), so a copy of the database alone does not give them away."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"taller.sources.credential:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode() if value else ""


def unseal(value: str) -> str:
    """The clear value; "" for nothing stored, or for a value sealed under another SECRET_KEY."""
    if not value:
        return ""
    try:
        return _fernet().decrypt(value.encode()).decode()
    except InvalidToken:
        return ""
