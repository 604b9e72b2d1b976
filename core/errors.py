"""Typed errors. Every expected failure has a stable machine-readable ``code``.

The API turns :class:`UserError` into ``userErrors`` on mutation payloads and the others
into GraphQL errors whose ``extensions.code`` is the same code.
"""

from __future__ import annotations

__all__ = [
    "ChannelError",
    "CrossdockError",
    "Forbidden",
    "NotFound",
    "NotSupported",
    "PluginLoadError",
    "TenantScopeError",
    "Unauthenticated",
    "UserError",
]


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
