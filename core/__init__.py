"""Crossdock: a plugin-based headless commerce operations server.

This module is the public API for plugin authors: the ``hookimpl`` marker, the provider
contracts and value types, ``Money``, and the typed errors. Anything not exported here is
internal and may change without notice.
"""

from __future__ import annotations

from crossdock.errors import (
    ChannelError,
    CrossdockError,
    NotFound,
    NotSupported,
    UserError,
)
from crossdock.hookspecs import hookimpl
from crossdock.money import Money
from crossdock.providers import (
    Address,
    CarrierBase,
    CarrierProvider,
    ChannelConnection,
    ChannelMessage,
    ChannelOrder,
    ChannelOrderLine,
    MarketplaceBase,
    MarketplaceCapability,
    MarketplaceProvider,
    MessagePage,
    Notification,
    NotificationSource,
    OrderPage,
    OutgoingMessage,
    PaymentBase,
    PaymentMethodOption,
    PaymentProvider,
    PriceUpdate,
    PushResult,
    RateLimit,
    ShipmentConfirmation,
    Site,
    StockUpdate,
    TaxBase,
    TaxEngine,
    TaxLine,
    TaxQuote,
    with_retries,
)

__version__ = "0.1.0"

__all__ = [
    "Address",
    "CarrierBase",
    "CarrierProvider",
    "ChannelConnection",
    "ChannelError",
    "ChannelMessage",
    "ChannelOrder",
    "ChannelOrderLine",
    "CrossdockError",
    "MarketplaceBase",
    "MarketplaceCapability",
    "MarketplaceProvider",
    "MessagePage",
    "Money",
    "NotFound",
    "NotSupported",
    "Notification",
    "NotificationSource",
    "OrderPage",
    "OutgoingMessage",
    "PaymentBase",
    "PaymentMethodOption",
    "PaymentProvider",
    "PriceUpdate",
    "PushResult",
    "RateLimit",
    "ShipmentConfirmation",
    "Site",
    "StockUpdate",
    "TaxBase",
    "TaxEngine",
    "TaxLine",
    "TaxQuote",
    "UserError",
    "__version__",
    "hookimpl",
    "with_retries",
]
