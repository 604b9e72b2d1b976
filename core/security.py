"""Secrets: API keys (shown once, stored as SHA-256) and channel credentials (Fernet).

API keys carry 256 bits of randomness, so a fast hash is the right tool (as GitHub and
Stripe do for tokens): a slow password hash would add tens of milliseconds to every
request and protect nothing a brute force could reach. Comparison is constant-time.

Credentials are encrypted with :class:`~cryptography.fernet.MultiFernet`: the first key in
``CROSSDOCK_SECRET_KEY`` encrypts, every key decrypts, and :meth:`Vault.rotate` re-encrypts
old tokens under the newest key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from crossdock.errors import CrossdockError

__all__ = [
    "SCOPES",
    "GeneratedKey",
    "RedactSecrets",
    "Scope",
    "Vault",
    "generate_api_key",
    "generate_token",
    "hash_secret",
    "install_log_redaction",
    "split_api_key",
    "split_token",
]

KEY_PREFIX = "cdk"


class Scope(StrEnum):
    """What an API key may do. ``admin`` implies all of them."""

    CATALOG_READ = "catalog:read"
    CATALOG_WRITE = "catalog:write"
    INVENTORY_READ = "inventory:read"
    INVENTORY_WRITE = "inventory:write"
    CHANNELS_READ = "channels:read"
    CHANNELS_WRITE = "channels:write"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    MESSAGES_READ = "messages:read"
    MESSAGES_WRITE = "messages:write"
    EVENTS_READ = "events:read"
    ANALYTICS_READ = "analytics:read"
    ANALYTICS_WRITE = "analytics:write"
    SETTINGS_READ = "settings:read"
    SETTINGS_WRITE = "settings:write"
    KEYS_READ = "keys:read"
    KEYS_WRITE = "keys:write"
    TENANTS_WRITE = "tenants:write"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"
    AUDIT_READ = "audit:read"
    BULK_READ = "bulk:read"
    BULK_WRITE = "bulk:write"
    USAGE_READ = "usage:read"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    ADMIN = "admin"


#: Every scope an API key can hold, with what it allows. ``admin`` implies all of them.
SCOPES: Mapping[str, str] = {
    Scope.CATALOG_READ: "read products and variants",
    Scope.CATALOG_WRITE: "create and change products and variants",
    Scope.INVENTORY_READ: "read warehouses and stock",
    Scope.INVENTORY_WRITE: "change warehouses and stock",
    Scope.CHANNELS_READ: "read connections and listings",
    Scope.CHANNELS_WRITE: "create and change connections",
    Scope.ORDERS_READ: "read orders",
    Scope.ORDERS_WRITE: "act on orders",
    Scope.MESSAGES_READ: "read buyer conversations and canned replies",
    Scope.MESSAGES_WRITE: "reply to buyers and edit canned replies",
    Scope.EVENTS_READ: "follow the event stream",
    Scope.ANALYTICS_READ: "read profit, KPIs, advertising figures and reports",
    Scope.ANALYTICS_WRITE: "make reports",
    Scope.SETTINGS_READ: "read the tenant's settings",
    Scope.SETTINGS_WRITE: "change the tenant's settings",
    Scope.KEYS_READ: "list the organization's API keys the key reaches",
    Scope.KEYS_WRITE: "make and revoke API keys (never beyond the key's own scopes and tenants)",
    Scope.TENANTS_WRITE: "add tenants to the organization (keys reaching every tenant)",
    Scope.WEBHOOKS_READ: "read webhook endpoints and their delivery log",
    Scope.WEBHOOKS_WRITE: "subscribe endpoints to events, rotate their secrets, redeliver",
    Scope.AUDIT_READ: "read the audit log (who changed what, when and from where)",
    Scope.BULK_READ: "read bulk exports and download their files (with the read scope of their rows)",
    Scope.BULK_WRITE: "start and cancel bulk exports (with the read scope of their rows)",
    Scope.USAGE_READ: "read usage per month (orders, labels, API cost, listings, webhooks)",
    Scope.USERS_READ: "list staff users, their roles and the organization's roles and logins",
    Scope.USERS_WRITE: "invite staff, give and take roles (never beyond the caller's own), make roles, "
    "configure single sign-on",
    Scope.ADMIN: "everything",
}


@dataclass(frozen=True)
class GeneratedKey:
    plaintext: str
    prefix: str
    key_hash: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_api_key() -> GeneratedKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    plaintext = f"{KEY_PREFIX}_{prefix}_{secret}"
    return GeneratedKey(plaintext=plaintext, prefix=prefix, key_hash=hash_secret(plaintext))


#: The kinds of staff tokens: a session's access token and its refresh token.
ACCESS_TOKEN = "cda"
REFRESH_TOKEN = "cdr"


def generate_token(kind: str) -> GeneratedKey:
    """A staff token of ``kind`` (:data:`ACCESS_TOKEN`, :data:`REFRESH_TOKEN`), shaped as an
    API key is: ``<kind>_<12 hex prefix>_<256 random bits>``."""
    prefix = secrets.token_hex(6)
    plaintext = f"{kind}_{prefix}_{secrets.token_urlsafe(32)}"
    return GeneratedKey(plaintext=plaintext, prefix=prefix, key_hash=hash_secret(plaintext))


def split_token(plaintext: str) -> tuple[str, str] | None:
    """``(kind, prefix)`` of a well-formed API key or staff token, or None."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] not in (KEY_PREFIX, ACCESS_TOKEN, REFRESH_TOKEN) or len(parts[1]) != 12:
        return None
    return parts[0], parts[1]


def split_api_key(plaintext: str) -> str | None:
    """Return the lookup prefix of a well-formed key, or None."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def verify_secret(plaintext: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(plaintext), key_hash)


class Vault:
    """Encrypts and decrypts channel credentials (a JSON object)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise CrossdockError("no encryption key configured (CROSSDOCK_SECRET_KEY)")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except ValueError as exc:
            raise CrossdockError(
                "CROSSDOCK_SECRET_KEY must be Fernet keys (url-safe base64, 32 bytes)"
            ) from exc

    def encrypt(self, credentials: Mapping[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(dict(credentials), sort_keys=True).encode())

    def decrypt(self, token: bytes) -> dict[str, Any]:
        try:
            data = json.loads(self._fernet.decrypt(token))
        except InvalidToken as exc:
            raise CrossdockError(
                "credentials cannot be decrypted with the configured keys", code="SECRET_KEY"
            ) from exc
        if not isinstance(data, dict):
            raise CrossdockError("stored credentials are not an object", code="SECRET_KEY")
        return data

    def rotate(self, token: bytes) -> bytes:
        return self._fernet.rotate(token)


#: Query and form parameters whose values never reach a log (marketplace request signing
#: puts tokens in URLs: Shopee's ``access_token``, Lazada's, TikTok's ``sign``).
SECRET_PARAMETERS = (
    "access_token",
    "refresh_token",
    "client_secret",
    "app_secret",
    "partner_key",
    "secret_key",
    "sign",
    "code",
    "password",
    "token",
    "totp",
    "X-Amz-Signature",
)
_SECRET = re.compile(r"(?i)\b(" + "|".join(re.escape(p) for p in SECRET_PARAMETERS) + r")=([^&\s\"']+)")


class RedactSecrets(logging.Filter):
    """Blank the values of secret parameters in a record's message (URLs, forms)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET.sub(r"\1=[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTED_LOGGERS = ("httpx", "httpcore", "crossdock", "uvicorn.access", "arq")


def install_log_redaction() -> None:
    """Attach :class:`RedactSecrets` to the loggers that see URLs (idempotent)."""
    for name in _REDACTED_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in target.filters):
            target.addFilter(RedactSecrets())
