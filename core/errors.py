"""Typed errors. Every expected failure has a stable machine-readable ``code``.

The API turns :class:`UserError` into ``userErrors`` on mutation payloads and the others
into GraphQL errors whose ``extensions.code`` is the same code.

The codes are closed sets: :class:`ErrorCode` (failures of a request as a whole) and one
enum per domain for input errors (``OrderErrorCode`` ...), each holding the codes every
domain shares (:data:`COMMON_CODES`) and its own. One condition has one code everywhere:
a malformed ID is ``INVALID_ID`` and an unknown or foreign one ``NOT_FOUND``, in a query's
``extensions.code`` as in a mutation's ``userErrors``. Services raise these codes as
strings (a ``StrEnum`` member equals its value); a test checks that every code raised in
the core is a member of one of these enums.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "COMMON_CODES",
    "DOMAIN_CODES",
    "AccountErrorCode",
    "AnalyticsErrorCode",
    "BulkErrorCode",
    "CaseErrorCode",
    "CatalogErrorCode",
    "ChannelError",
    "ChannelErrorCode",
    "CrossdockError",
    "ErrorCode",
    "Forbidden",
    "InventoryErrorCode",
    "MessagingErrorCode",
    "NotFound",
    "NotSupported",
    "OrderErrorCode",
    "PluginLoadError",
    "PricingErrorCode",
    "ShippingErrorCode",
    "TenantScopeError",
    "TrackingErrorCode",
    "Unauthenticated",
    "UserError",
    "WebhookErrorCode",
]


class ErrorCode(StrEnum):
    """What went wrong with a request as a whole (``extensions.code`` of a GraphQL error)."""

    UNAUTHENTICATED = "UNAUTHENTICATED"  #: no valid API key
    FORBIDDEN = "FORBIDDEN"  #: the key lacks the scope the field names
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    #: the document does not fit the schema (an unknown field, argument or enum value)
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    MAX_COST_EXCEEDED = "MAX_COST_EXCEEDED"  #: the query costs more than the bucket holds
    THROTTLED = "THROTTLED"  #: not enough cost points now; retry after the seconds given
    BAD_REQUEST = "BAD_REQUEST"  #: not a GraphQL request (e.g. a subscription over HTTP)
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"  #: a bug: logged, no detail shown
    INTERNAL_ERROR = "INTERNAL_ERROR"
    TENANT_SCOPE = "TENANT_SCOPE"
    NOT_SUPPORTED = "NOT_SUPPORTED"  #: the provider does not offer this operation
    PLUGIN_LOAD_ERROR = "PLUGIN_LOAD_ERROR"
    SECRET_KEY = "SECRET_KEY"  #: the server's secret key is missing or unusable
    #: a channel's API refused: the codes of :class:`ChannelError`
    CHANNEL_ERROR = "CHANNEL_ERROR"
    AUTH_EXPIRED = "AUTH_EXPIRED"
    CREDENTIALS = "CREDENTIALS"
    MALFORMED = "MALFORMED"
    SYNC_FAILED = "SYNC_FAILED"
    JOBS_UNAVAILABLE = "JOBS_UNAVAILABLE"  #: the job queue cannot be reached
    REDIS_UNAVAILABLE = "REDIS_UNAVAILABLE"
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"  #: the document storage failed or cannot be reached


#: Input errors any domain's operation can meet.
COMMON_CODES: dict[str, str] = {
    "INVALID": "the value breaks a rule of its field (the message says which)",
    "INVALID_ID": "not one of our global IDs, or an ID of another type than the field takes",
    "NOT_FOUND": "no such object for this tenant (a foreign ID gets the same answer)",
    "INVALID_CURSOR": "not a cursor this list gave out (or one of another sort order)",
    "REQUIRED": "a value must be given",
    "TOO_LONG": "a text is longer than its field allows",
    "OUT_OF_RANGE": "a number or quantity outside what the field allows",
    "INVALID_STRING": "a text contains a character that cannot be stored",
    "INVALID_DATE": "not an ISO 8601 date, or outside the supported years",
    "INVALID_DATETIME": "not an ISO 8601 time with an offset, or outside the supported years",
    "INVALID_DECIMAL": "not a decimal number",
    "INVALID_JSON": "not a JSON object of the accepted size",
    "INVALID_AMOUNT": "an amount with more decimals than its currency has, or too large",
    "INVALID_CURRENCY": "not an ISO 4217 currency code",
    "INVALID_COUNTRY": "not an ISO 3166 country code",
    "INVALID_STATE": "the object is not in a state that allows this",
    "TAKEN": "another object already has this unique value",
    "CONFLICT": "concurrent changes to the same objects kept colliding; try again",
    "IDEMPOTENCY_KEY_IN_USE": "the Idempotency-Key is held by a request still running",
    "NOT_SUPPORTED": "the channel or provider does not offer this operation",
}

#: Each domain's own input errors.
DOMAIN_CODES: dict[str, dict[str, str]] = {
    "Catalog": {"INVALID_SKU": "a SKU with characters channels do not accept"},
    "Inventory": {
        "INSUFFICIENT_STOCK": "fewer units on hand (or available) than asked for",
        "BELOW_RESERVED": "on hand would fall below what is reserved for orders",
        "UNKNOWN_PROVIDER": "no installed warehouse-system plugin has this name",
        "URL_NOT_ALLOWED": "the warehouse system's base URL points somewhere the server may not call",
    },
    "Channel": {
        "UNKNOWN_CHANNEL": "no installed marketplace plugin has this name",
        "UNKNOWN_SITE": "the channel has no such site",
        "URL_NOT_ALLOWED": "the base URL points somewhere the server may not call",
        "UNKNOWN_CATEGORY": "the channel has no such category for the shop (or not as a leaf)",
        "TRANSLATOR_ERROR": "the translation engine refused or failed; nothing was changed",
        "UNREVIEWED": "machine-translated content nobody reviewed, which the tenant does not publish",
        "CHANNEL_REFUSED": "the channel refused (its message says why); nothing was changed here",
        "CHANNEL_UNAVAILABLE": "the channel did not answer; nothing was changed here: try again",
    },
    "Order": {
        "NOT_HELD": "the order has no (such) hold to release",
        "NOTHING_TO_PACK": "the order has nothing left to pack in that warehouse",
        "ALREADY_SHIPPED": "the shipment has already left",
        "OVER_REFUND": "refunds would exceed what the order was paid",
        "CURRENCY_MISMATCH": "an amount in another currency than the order's",
        "INSUFFICIENT_STOCK": "fewer units than asked for",
        "CHANNEL_REFUSED": "the channel refused (its message says why); nothing was changed here",
        "CHANNEL_UNAVAILABLE": "the channel did not answer; nothing was changed here: try again",
        "PAYMENT_REFUSED": "the payment provider refused the refund (its message says why); no money moved",
        "PAYMENT_UNAVAILABLE": "the payment provider did not answer; the refund stays pending and is "
        "retried with the same reference, never made twice",
        "PAYMENT_ERROR": "the order's payment provider cannot be used (not installed, no credentials): "
        "see the message",
        "REFUND_NOT_SUPPORTED": "the order's payment provider cannot move money back (cash on delivery, "
        "bank transfer): give it back yourself, then record it with outOfBand",
    },
    "Case": {
        "ACTION_NOT_ALLOWED": "the channel does not take this answer to the case now",
        "RESPONSE_PENDING": "an answer to the case is still being sent to the channel",
        "CURRENCY_MISMATCH": "an amount in another currency than the case's",
    },
    "Analytics": {
        "INVALID_PERIOD": "the period ends before it starts, or is longer than a query may cover",
        "INVALID_TIMEZONE": "not an IANA time zone",
        "INVALID_REPORT": "report data out of shape or out of range",
    },
    "Pricing": {
        "NO_COST": "the variant has no cost to price from",
        "NO_PRICE_RULE": "the listing has no price rule",
        "NO_PRICE": "the listing has no price",
        "IMPOSSIBLE_MARGIN": "fees, tax and margin add up to 100 % or more of the price",
        "FX_RATE_UNAVAILABLE": "no exchange rate for the currencies and day",
        "FX_REQUIRED": "a conversion needs an FX plugin and none is installed",
        "INVALID_TIMEZONE": "not an IANA time zone",
    },
    "Messaging": {
        "INVALID_LANGUAGE": "not a language tag",
        "NO_TRANSLATION": "the canned reply has no text in the conversation's language",
        "UNKNOWN_PLACEHOLDER": "the text uses a placeholder that does not exist",
        "PLACEHOLDER_UNAVAILABLE": "the conversation has no value for a placeholder the text uses",
    },
    "Shipping": {
        "UNKNOWN_CARRIER": "no installed carrier plugin has this name",
        "URL_NOT_ALLOWED": "the base URL points somewhere the server may not call",
        "CARRIER_REFUSED": "the carrier refused the request (its message says why); nothing was bought",
        "CARRIER_UNAVAILABLE": "the carrier did not answer; a label purchase is resumed, never made twice",
        "CARRIER_ERROR": "the carrier account cannot be used (credentials, set-up): see the message",
        "DOCUMENTS_PENDING": "the label was bought; its documents are not stored yet and are fetched again",
        "NO_ROUTE": "no routing rule allows a carrier for this shipment",
        "NO_RATE": "no allowed service can carry this shipment",
        "NO_WEIGHT": "the shipment's weight is unknown: give packages or variant weights",
        "NO_ADDRESS": "an address the carrier needs is missing (ship-from or ship-to)",
        "LABEL_EXISTS": "the shipment already has a label (void it first)",
        "NO_LABEL": "the shipment has no label",
        "HANDED_OVER": "the parcel is with the carrier: its label can no longer be voided",
    },
    "Tracking": {
        "UNKNOWN_EXCEPTION_KIND": "not one of the exception kinds",
        "INVALID_LANE": "not a lane such as SG-DE (origin and destination countries)",
        "SCOPE_NOT_HELD": "a key cannot grant a scope it does not hold itself",
        "TENANT_NOT_REACHED": "the key asking does not reach that tenant (or every tenant)",
    },
    "Webhook": {
        "URL_NOT_ALLOWED": "the endpoint URL points somewhere the server may not call",
    },
    "Account": {
        "INVALID_SCOPE": "not a scope API keys can hold",
        "INVALID_SLUG": "not a lower-case slug",
        "INVALID_TIMEZONE": "not an IANA time zone",
        "INVALID_LOCALE": "not a known locale (BCP 47 tag)",
        "INVALID_LANE": "not a lane such as SG-DE (origin and destination countries)",
        "SCOPE_NOT_HELD": "the caller cannot give, or act on one holding, a scope it does not hold itself",
        "TENANT_NOT_REACHED": "the key or user asking does not reach that tenant (or every tenant)",
        "INVALID_MONTH": "not a calendar month written YYYY-MM, or outside the supported years",
        "INVALID_EMAIL": "not an e-mail address",
        "WEAK_PASSWORD": "a password shorter or longer than allowed, or the e-mail itself",
        "INVALID_CREDENTIALS": "a wrong e-mail or password (the answer does not say which)",
        "INVALID_TOKEN": "a one-time link (invitation, password reset) unknown, used or expired",
        "TOTP_REQUIRED": "the user has a second factor: send its current code",
        "TOTP_INVALID": "a wrong second-factor code, or one already used",
        "LOCKED": "too many failed logins: the account waits (retry after the seconds given)",
        "RATE_LIMITED": "too many failed logins from this address (retry after the seconds given)",
        "DISABLED": "the user is disabled",
        "REFRESH_INVALID": "a refresh token unknown, expired or of a revoked session",
        "REFRESH_REUSED": "a refresh token already replaced was presented again: the session is revoked",
        "NOT_A_USER": "an operation on one's own account, called with an API key rather than as a user",
        "INVALID_INPUT": "a body that is not a JSON object of the fields and types the endpoint takes",
        "SSO_STATE_INVALID": "a single sign-on callback whose login is unknown, used or expired: start again",
        "SSO_REFUSED": "the identity provider refused the login, or its answer did not verify",
        "SSO_UNKNOWN_USER": "the identity verified, but no user of the organization has it (none is made)",
        "SSO_UNAVAILABLE": "the identity provider did not answer: try again",
        "INVALID_REDIRECT": "a redirect that is not a path of this server's (such as /orders)",
        "URL_NOT_ALLOWED": "the identity provider's issuer URL points somewhere the server may not call",
    },
    "Bulk": {
        "BULK_IN_PROGRESS": "the tenant has a bulk export created or running: wait for it, or cancel it",
        "FILTER_MISMATCH": "a filter of another kind than the export's",
    },
}


def _domain_enum(domain: str) -> type[StrEnum]:
    codes = {**COMMON_CODES, **DOMAIN_CODES[domain]}
    enum = StrEnum(f"{domain}ErrorCode", [(c, c) for c in codes])  # type: ignore[misc]
    enum.__doc__ = f"Why an input to a {domain.lower()} operation was refused."
    enum.descriptions = codes  # type: ignore[attr-defined]
    return enum


CatalogErrorCode = _domain_enum("Catalog")
InventoryErrorCode = _domain_enum("Inventory")
ChannelErrorCode = _domain_enum("Channel")
OrderErrorCode = _domain_enum("Order")
PricingErrorCode = _domain_enum("Pricing")
MessagingErrorCode = _domain_enum("Messaging")
AccountErrorCode = _domain_enum("Account")
ShippingErrorCode = _domain_enum("Shipping")
TrackingErrorCode = _domain_enum("Tracking")
CaseErrorCode = _domain_enum("Case")
AnalyticsErrorCode = _domain_enum("Analytics")
WebhookErrorCode = _domain_enum("Webhook")
BulkErrorCode = _domain_enum("Bulk")


class CrossdockError(Exception):
    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class UserError(CrossdockError):
    """An expected failure caused by the input, reported on the field that caused it."""

    code = "INVALID"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.field = field


class NotFound(UserError):
    code = "NOT_FOUND"


class Unauthenticated(CrossdockError):
    code = "UNAUTHENTICATED"


class Forbidden(CrossdockError):
    code = "FORBIDDEN"


class TenantScopeError(CrossdockError):
    """A query ran on a session that names no tenant and was not opened as a system one."""

    code = "TENANT_SCOPE"


class NotSupported(CrossdockError):
    """A provider was asked for an operation it does not declare in its capabilities."""

    code = "NOT_SUPPORTED"


class ChannelError(CrossdockError):
    """A marketplace, carrier or payment API answered with an error.

    ``retryable`` separates transient failures (throttling, 5xx, timeouts) from permanent
    ones (bad credentials) so the job layer knows whether to try again.
    """

    code = "CHANNEL_ERROR"
    #: The code a provider uses when the channel no longer accepts the access token: the
    #: core refreshes the connection's credentials (``credentials.refresh``) and retries.
    AUTH_EXPIRED = "AUTH_EXPIRED"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable
        self.retry_after = retry_after


class PluginLoadError(CrossdockError):
    code = "PLUGIN_LOAD_ERROR"

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(f"plugin {plugin!r}: {message}")
        self.plugin = plugin
