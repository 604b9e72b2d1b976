"""What one tenant's DHL Express account holds: credentials, account number and options.

MyDHL API authenticates every call with HTTP Basic auth: the API key as the user name and
the API secret as the password (the OpenAPI document's ``basicAuth`` scheme). The shipper
account number goes into each request's ``accounts`` (``typeCode: shipper``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crossdock import CarrierAccount, ChannelError

__all__ = ["PRODUCTION_HOST", "TEST_HOST", "DhlExpressSettings"]

PRODUCTION_HOST = "https://express.api.dhl.com/mydhlapi"
TEST_HOST = "https://express.api.dhl.com/mydhlapi/test"


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


@dataclass(frozen=True)
class DhlExpressSettings:
    api_key: str
    api_secret: str
    account_number: str
    base_url: str
    #: book the courier with each shipment (``pickup.isRequested``); a label is then voided
    #: by cancelling that pickup (see the README)
    request_pickup: bool = True
    #: the pickup's latest time (``closeTime``, HH:MM local)
    close_time: str = "18:00"
    #: where the courier collects (``pickup.location``)
    pickup_location: str = "reception"
    #: the shipper's offset from GMT, for the local times MyDHL expects
    gmt_offset: str = "+00:00"
    #: transport label template (``outputImageProperties.imageOptions[].templateName``)
    label_template: str = "ECOM26_84_001"
    #: global product code for pickups of shipments whose product is not known
    pickup_product_code: str = "P"
    #: who cancels pickups (``requestorName`` of ``DELETE /pickups``)
    requestor_name: str = "Crossdock"

    @classmethod
    def of(cls, account: CarrierAccount) -> DhlExpressSettings:
        creds: Mapping[str, Any] = account.credentials
        options: Mapping[str, Any] = account.settings
        missing = [key for key in ("api_key", "api_secret") if not creds.get(key)]
        number = creds.get("account_number") or options.get("account_number")
        if not number:
            missing.append("account_number")
        if missing:
            raise ChannelError(f"DHL Express account lacks {', '.join(missing)}", code="CREDENTIALS")
        if account.base_url:
            base = account.base_url
        elif _flag(options.get("test_mode"), False):
            base = TEST_HOST
        else:
            base = PRODUCTION_HOST
        return cls(
            api_key=str(creds["api_key"]),
            api_secret=str(creds["api_secret"]),
            account_number=str(number),
            base_url=base.rstrip("/"),
            request_pickup=_flag(options.get("request_pickup"), True),
            close_time=str(options.get("close_time", "18:00")),
            pickup_location=str(options.get("pickup_location", "reception")),
            gmt_offset=str(options.get("gmt_offset", "+00:00")),
            label_template=str(options.get("label_template", "ECOM26_84_001")),
            pickup_product_code=str(options.get("pickup_product_code", "P")),
            requestor_name=str(options.get("requestor_name", "Crossdock")),
        )
