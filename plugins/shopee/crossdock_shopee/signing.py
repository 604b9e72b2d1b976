"""Shopee Open Platform v2 request and push signatures.

Request signature: lowercase hex HMAC-SHA256, keyed with the partner key, over
``partner_id + path + timestamp`` for public APIs, ``+ access_token + shop_id`` for shop
APIs and ``+ access_token + merchant_id`` for merchant APIs (path without host). Push
(webhook) signature: HMAC-SHA256 over ``callback_url + "|" + raw_body``.
Source: Shopee Open Platform developer guide "API calls" (Signature calculation: the
base strings of its shop, merchant and public examples are asserted in the tests; its
example sign is printed without the partner key behind it, so the HMAC value in the tests
is computed here from the documented formula) and "Push Mechanism" (as summarised in
../shared/marketplaces.md).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["base_string", "push_signature", "sign", "verify_push"]


def base_string(
    partner_id: int | str, path: str, timestamp: int, access_token: str = "", owner_id: int | str = ""
) -> str:
    """The signed string; ``owner_id`` is the shop_id (shop APIs) or merchant_id."""
    return f"{partner_id}{path}{timestamp}{access_token}{owner_id}"


def sign(partner_key: str, base: str) -> str:
    return hmac.new(partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()


def push_signature(partner_key: str, callback_url: str, body: bytes) -> str:
    return hmac.new(partner_key.encode(), callback_url.encode() + b"|" + body, hashlib.sha256).hexdigest()


def verify_push(partner_key: str, callback_url: str, body: bytes, authorization: str) -> bool:
    """Constant-time check of a push's ``Authorization`` header (hex, either case); any
    other header (non-ASCII included) simply does not verify."""
    expected = push_signature(partner_key, callback_url, body)
    return hmac.compare_digest(expected.encode(), authorization.strip().lower().encode("utf-8", "replace"))
