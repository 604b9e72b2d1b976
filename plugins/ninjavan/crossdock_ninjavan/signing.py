"""The webhook signature: ``X-Ninjavan-Hmac-Sha256`` is the base64 of the HMAC-SHA256 of
the raw request body, keyed with the shipper's client secret (see the README's sources)."""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "signature", "verify"]

SIGNATURE_HEADER = "X-Ninjavan-Hmac-Sha256"


def signature(client_secret: str, body: bytes) -> str:
    digest = hmac.new(client_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(client_secret: str, body: bytes, presented: str | bytes | None) -> bool:
    """Constant time, on bytes: a header may hold anything (non-ASCII included)."""
    if not presented or not client_secret:
        return False
    given = presented.encode("utf-8", "replace") if isinstance(presented, str) else presented
    return hmac.compare_digest(signature(client_secret, body).encode("ascii"), given.strip())
