"""Lazada Open Platform request and push signatures.

Request signature: every request parameter except ``sign`` itself (files are never signed),
sorted by name and written as ``name + value`` one after the other, prefixed with the API
path (``/orders/get``, no host, no ``/rest``); the HMAC-SHA256 of that string keyed with
the app secret, as uppercase hex. The system parameters ``app_key``, ``timestamp``
(milliseconds), ``sign_method=sha256`` and ``access_token`` are signed like any other.

Push signature: the ``Authorization`` header of a push is the hex HMAC-SHA256, keyed with
the app secret, of ``app_key + raw_body``.

Source: Lazada Open Platform "Signature algorithm" and "Push mechanism" pages, as summarised
(with the published test vector) in ../shared/marketplaces.md.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

__all__ = ["base_string", "push_signature", "sign", "sign_request", "verify_push"]


def base_string(api_path: str, params: Mapping[str, Any]) -> str:
    """The signed string: the API path, then ``key + value`` for each parameter by key."""
    return api_path + "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign")


def sign(app_secret: str, base: str) -> str:
    return hmac.new(app_secret.encode(), base.encode(), hashlib.sha256).hexdigest().upper()


def sign_request(app_secret: str, api_path: str, params: Mapping[str, Any]) -> str:
    return sign(app_secret, base_string(api_path, params))


def push_signature(app_key: str, app_secret: str, body: bytes) -> str:
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


def verify_push(app_key: str, app_secret: str, body: bytes, authorization: str) -> bool:
    """Constant-time check of a push's ``Authorization`` header (hex, either case)."""
    expected = push_signature(app_key, app_secret, body)
    return hmac.compare_digest(expected.encode(), authorization.strip().lower().encode())
