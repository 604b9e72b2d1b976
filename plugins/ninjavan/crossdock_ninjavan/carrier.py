"""Ninja Van as a Crossdock carrier: labels (orders and their waybills), tracking polled
from the tracking-events API and pushed by webhooks.

One Ninja Van order is one parcel: a shipment of several parcels is several orders, each
with its own deterministic ``requested_tracking_number``. No ``carrier.rates``: Ninja Van's
price API is an estimate that not every account is granted, and shippers are billed on
their contract; the core prices the account's rate card (see the README).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crossdock import ChannelError
from crossdock.providers import (
    CarrierAccount,
    CarrierBase,
    CarrierCapability,
    CarrierDocument,
    DocumentFormat,
    DocumentKind,
    Label,
    ShipmentRequest,
    TrackingResult,
    TrackingStatus,
    parse_push_json,
)
from crossdock_ninjavan import __version__
from crossdock_ninjavan.client import NinjaVanClient, NinjaVanError, TokenCache
from crossdock_ninjavan.mapping import (
    build_order,
    is_duplicate,
    parse_tracking,
    parse_webhook_event,
    requested_tracking_number,
    service_level,
)
from crossdock_ninjavan.signing import SIGNATURE_HEADER, verify

__all__ = ["NinjaVanCarrier"]


class NinjaVanCarrier(CarrierBase):
    name = "ninjavan"
    display_name = "Ninja Van"
    version = __version__
    capabilities = frozenset(
        {CarrierCapability.LABELS, CarrierCapability.TRACKING, CarrierCapability.TRACKING_PUSH}
    )
    #: tracking numbers per tracking-events call (Ninja Van documents no limit; kept small)
    track_batch = 20

    def __init__(self) -> None:
        self.tokens = TokenCache()

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def _setting(account: CarrierAccount, key: str, default: Any = None) -> Any:
        if key in account.credentials and account.credentials[key] not in (None, ""):
            return account.credentials[key]
        return account.settings.get(key, default)

    def _country(self, account: CarrierAccount) -> str:
        country = str(self._setting(account, "country_code", "") or "").strip().upper()
        if not country:
            raise ChannelError("ninjavan account has no country_code", code="CREDENTIALS")
        return country

    def client(self, account: CarrierAccount) -> NinjaVanClient:
        return NinjaVanClient(
            client_id=str(account.credentials.get("client_id") or ""),
            client_secret=str(account.credentials.get("client_secret") or ""),
            country=self._country(account),
            http=account.http_client(),
            tokens=self.tokens,
            base_url=account.base_url or self._setting(account, "base_url"),
        )

    def _numbers(self, account: CarrierAccount, request: ShipmentRequest) -> list[str]:
        """The requested tracking numbers of the request's parcels, in order."""
        length = int(self._setting(account, "requested_tracking_number_length", 14))
        count = max(1, len(request.parcels))
        return [requested_tracking_number(request.reference, i, length=length) for i in range(count)]

    def _tracking_number(self, account: CarrierAccount, requested: str) -> str:
        """What Ninja Van makes of a requested number: the shipper's prefix before it
        (none for a prefixless account)."""
        return f"{self._setting(account, 'shipper_prefix', '') or ''}{requested}"

    async def _waybill(self, client: NinjaVanClient, account: CarrierAccount, number: str) -> bytes:
        hide = "true" if self._setting(account, "hide_shipper_details", False) else "false"
        content = await client.call(
            "GET", "/2.0/reports/waybill", params=[("tid", number), ("hide_shipper_details", hide)], pdf=True
        )
        assert isinstance(content, bytes)
        return content

    async def _label(
        self,
        client: NinjaVanClient,
        account: CarrierAccount,
        numbers: Sequence[str],
        service: str,
        raw: Mapping[str, Any],
    ) -> Label:
        documents = [
            CarrierDocument(DocumentKind.LABEL, DocumentFormat.PDF, await self._waybill(client, account, n))
            for n in numbers
        ]
        return Label(
            carrier_shipment_id=numbers[0],
            tracking_numbers=list(numbers),
            documents=documents,
            service=service,
            raw=dict(raw),
        )

    async def _lookup(self, client: NinjaVanClient, numbers: Sequence[str]) -> dict[str, TrackingResult]:
        """Which of ``numbers`` Ninja Van holds as live (not cancelled) orders."""
        try:
            body = await client.call(
                "GET",
                "/1.0/orders/tracking-events",
                params=[("tracking_number", number) for number in numbers],
            )
        except NinjaVanError as exc:
            if exc.code == "NOT_FOUND":
                return {}
            raise
        live = {}
        for result in parse_tracking(body, numbers):
            latest = max(result.events, key=lambda e: e.occurred_at, default=None)
            if result.found and (latest is None or latest.status != TrackingStatus.CANCELLED):
                live[result.tracking_number] = result
        return live

    # ------------------------------------------------------------ labels

    async def buy_label(self, account: CarrierAccount, request: ShipmentRequest, service: str) -> Label:
        client = self.client(account)
        country = self._country(account)
        level = service_level(service)
        if not request.parcels:
            raise ChannelError("ninjavan: a shipment needs at least one parcel", code="REFUSED")
        numbers, orders = [], []
        for parcel, requested in zip(request.parcels, self._numbers(account, request), strict=False):
            await account.throttle("orders")
            body = build_order(
                request,
                service,
                country=country,
                requested=requested,
                parcel=parcel,
                settings=account.settings,
            )
            try:
                order = await client.call("POST", "/4.2/orders", json_body=body)
            except NinjaVanError as exc:
                if exc.code != "REFUSED" or not is_duplicate(exc.body):
                    raise
                # an earlier try made this order (its answer was lost): it is ours
                number = self._tracking_number(account, requested)
                if number not in await self._lookup(client, [number]):
                    raise
                order = {"tracking_number": number, "requested_tracking_number": requested}
            number = order.get("tracking_number")
            if not isinstance(number, str) or not number:
                raise ChannelError(
                    "ninjavan order answer has no tracking_number", code="MALFORMED", retryable=True
                )
            numbers.append(number)
            orders.append(order)
        return await self._label(client, account, numbers, level, {"orders": orders})

    async def find_label(self, account: CarrierAccount, request: ShipmentRequest) -> Label | None:
        client = self.client(account)
        numbers = [self._tracking_number(account, r) for r in self._numbers(account, request)]
        live = await self._lookup(client, numbers)
        if not all(number in live for number in numbers):
            return None  # none bought, or some parcels still to buy: buy_label completes it
        service = str(account.settings.get("service", "standard"))
        return await self._label(client, account, numbers, service_level(service), {"found": numbers})

    async def void_label(self, account: CarrierAccount, label: Label) -> None:
        """Cancel each order; Ninja Van cancels only orders still pending pickup."""
        client = self.client(account)
        for number in label.tracking_numbers:
            try:
                await client.call("DELETE", f"/2.2/orders/{number}")
            except NinjaVanError as exc:
                if exc.code != "NOT_FOUND":
                    raise

    # ------------------------------------------------------------ tracking

    async def track(
        self, account: CarrierAccount, tracking_numbers: Sequence[str]
    ) -> Sequence[TrackingResult]:
        client = self.client(account)
        numbers = list(tracking_numbers)
        if not numbers:
            return []
        await account.throttle("tracking")
        try:
            body = await client.call(
                "GET",
                "/1.0/orders/tracking-events",
                params=[("tracking_number", number) for number in numbers],
            )
        except NinjaVanError as exc:
            if exc.code == "NOT_FOUND":
                return [TrackingResult(number, [], found=False) for number in numbers]
            raise
        return parse_tracking(body, numbers)

    def parse_webhook(
        self, account: CarrierAccount, headers: Mapping[str, str], body: bytes
    ) -> Sequence[TrackingResult]:
        presented = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
        secret = str(account.credentials.get("client_secret") or "")
        if not verify(secret, body, presented):
            raise ChannelError("ninjavan push signature does not verify", code="SIGNATURE")
        payload = parse_push_json(body, self.name)
        try:
            number, event = parse_webhook_event(payload)
        except ValueError as exc:
            raise ChannelError(f"ninjavan push: {exc}", code="MALFORMED") from None
        return [TrackingResult(number, [event])]
