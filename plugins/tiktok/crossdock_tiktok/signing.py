"""TikTok Shop Partner API (202309+) request and push signatures.

Request signature: every query parameter except ``sign`` and ``access_token``, sorted by
key and concatenated as ``key + value``, prefixed with the request path (no host), followed
by the raw request body unless the request is ``multipart/form-data``; the whole string is
wrapped as ``app_secret + s + app_secret`` and signed with lowercase hex HMAC-SHA256 keyed
with the app secret.

Push (webhook) signature: the ``Authorization`` header is hex HMAC-SHA256(app_secret,
app_key + raw_body). TikTok does not publish this formula; it is the one third-party
clients use (UNCONFIRMED, see ../shared/marketplaces.md).

Source: TikTok Shop Partner Center, Developer guide, "Sign your API request" (the formula,
the official Go/Java/Node.js/Python samples and a worked example whose result is pinned in
tests/test_tiktok_signing.py), mirrored in ``lazykern/ecommerce-api-docs``
``data/raw/tiktok/developer-guide/tiktok-shop-api-concepts/sign-your-api-request.json``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

__all__ = ["UNSIGNED_PARAMS", "push_signature", "sign", "string_to_sign", "verify_push"]

#: query parameters left out of the signed string
UNSIGNED_PARAMS = frozenset({"sign", "access_token"})


def string_to_sign(
    path: str, params: Mapping[str, Any], body: bytes = b"", *, multipart: bool = False
) -> str:
    """The string inside the secret wrapping: path, sorted ``key+value`` pairs, raw body."""
    pairs = "".join(f"{key}{params[key]}" for key in sorted(params) if key not in UNSIGNED_PARAMS)
    tail = "" if multipart or not body else body.decode("utf-8")
    return f"{path}{pairs}{tail}"


def sign(
    app_secret: str,
    path: str,
    params: Mapping[str, Any],
    body: bytes = b"",
    *,
    multipart: bool = False,
) -> str:
    base = f"{app_secret}{string_to_sign(path, params, body, multipart=multipart)}{app_secret}"
    return hmac.new(app_secret.encode(), base.encode("utf-8"), hashlib.sha256).hexdigest()


def push_signature(app_secret: str, app_key: str, body: bytes) -> str:
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


def verify_push(app_secret: str, app_key: str, body: bytes, authorization: str) -> bool:
    """Constant-time comparison of the pushed ``Authorization`` header."""
    expected = push_signature(app_secret, app_key, body)
    return hmac.compare_digest(expected.encode(), authorization.strip().lower().encode())
