"""FedEx as a Crossdock carrier: rates, labels, tracking, pickups and address checks over
FedEx's REST APIs (developer.fedex.com).

Labels are bought once per ``request.reference``: the reference goes on every package as
its ``CUSTOMER_REFERENCE``. FedEx returns a label's image only in the Ship API's answer (or
as a URL in that same answer), so :meth:`FedExCarrier.find_label` can give back a label
only when this process received that answer; a shipment FedEx made whose answer never
reached us is found with Track by references and cancelled (it has not been tendered:
nobody holds its label), and the label is bought again. The README explains why.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from crossdock import ChannelError
from crossdock.providers import (
    Address,
    AddressCheck,
    CarrierAccount,
    CarrierBase,
    CarrierCapability,
    DocumentFormat,
    DocumentKind,
    Label,
    Pickup,
    PickupRequest,
    Rate,
    RateLimit,
    ShipmentRequest,
    TrackingResult,
)
from crossdock_fedex import __version__
from crossdock_fedex.client import OPERATION, REFUSED, FedExClient, TokenCache
from crossdock_fedex.mapping import (
    address_request,
    cancel_request,
    parse_address,
    parse_label,
    parse_rates,
    parse_references,
    parse_tracking,
    pickup_request,
    rate_request,
    reference_request,
    ship_request,
    track_request,
)

__all__ = ["FedExCarrier"]

#: FedEx answers at most 30 tracking numbers per Track API request
TRACK_BATCH = 30
#: labels received and not yet known to be stored by the core, per process
RECEIVED_MAX = 4096
#: how many orphaned shipments one look-up cancels before giving up
MAX_ORPHANS = 5
LABEL_FORMATS = {"pdf": DocumentFormat.PDF, "zpl": DocumentFormat.ZPL, "png": DocumentFormat.PNG}


class FedExCarrier(CarrierBase):
    name = "fedex"
    display_name = "FedEx"
    version = __version__
    channel: str | None = None
    capabilities = frozenset(
        {
            CarrierCapability.RATES,
            CarrierCapability.LABELS,
            CarrierCapability.TRACKING,
            CarrierCapability.PICKUPS,
            CarrierCapability.ADDRESS_VALIDATION,
        }
    )
    track_batch = TRACK_BATCH
    #: 1,400 transactions per 10 seconds per project, every endpoint counted
    rate_limits: Mapping[str, RateLimit] = {OPERATION: RateLimit(140.0, 1400)}

    def __init__(self, tokens: TokenCache | None = None) -> None:
        self.tokens = tokens or TokenCache()
        self._received: OrderedDict[tuple[int, str, str], Label] = OrderedDict()

    # ------------------------------------------------------------ helpers

    def client(self, account: CarrierAccount) -> FedExClient:
        return FedExClient(account, self.tokens)

    @staticmethod
    def _pickup_type(account: CarrierAccount) -> str:
        return str(account.settings.get("pickup_type") or "USE_SCHEDULED_PICKUP")

    @staticmethod
    def _residential(address: Address) -> bool:
        return not address.company

    def _keep(self, account: CarrierAccount, reference: str, label: Label) -> None:
        key = (account.id, account.tenant, reference)
        self._received[key] = label
        self._received.move_to_end(key)
        while len(self._received) > RECEIVED_MAX:
            self._received.popitem(last=False)

    def _forget(self, account: CarrierAccount, label: Label) -> None:
        for key, kept in list(self._received.items()):
            if (
                key[:2] == (account.id, account.tenant)
                and kept.carrier_shipment_id == label.carrier_shipment_id
            ):
                del self._received[key]

    # ------------------------------------------------------------ rates

    async def rates(self, account: CarrierAccount, request: ShipmentRequest) -> Sequence[Rate]:
        client = self.client(account)
        body = rate_request(
            client.account_number,
            request,
            pickup_type=self._pickup_type(account),
            residential=self._residential(request.destination),
        )
        data = await client.call("POST", "/rate/v1/rates/quotes", body)
        rates = parse_rates(self.name, data)
        if request.service_level is not None:
            rates = [r for r in rates if r.service_level == request.service_level]
        return sorted(rates, key=lambda r: r.price.amount)

    # ------------------------------------------------------------ labels

    async def buy_label(self, account: CarrierAccount, request: ShipmentRequest, service: str) -> Label:
        client = self.client(account)
        fmt = LABEL_FORMATS.get(
            str(account.settings.get("label_format") or "pdf").lower(), DocumentFormat.PDF
        )
        body = ship_request(
            client.account_number,
            request,
            service,
            pickup_type=self._pickup_type(account),
            label_format=fmt,
            label_stock=account.settings.get("label_stock_type"),
            packaging_type=str(account.settings.get("packaging_type") or "YOUR_PACKAGING"),
        )
        recipient = body["requestedShipment"]["recipients"][0]["address"]
        recipient["residential"] = self._residential(request.destination)
        data = await client.call("POST", "/ship/v1/shipments", body, transaction_id=request.reference)
        try:
            label = parse_label(data)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            # FedEx may have made the shipment: retryable, so the retry looks it up first
            raise ChannelError(
                f"fedex /ship/v1/shipments answered without a shipment ({exc})",
                code="MALFORMED",
                retryable=True,
            ) from exc
        if not any(d.kind == DocumentKind.LABEL for d in label.documents):
            raise ChannelError(
                f"fedex shipment {label.carrier_shipment_id} came without its label image",
                code="MALFORMED",
                retryable=True,
            )
        self._keep(account, request.reference, label)
        return label

    async def find_label(self, account: CarrierAccount, request: ShipmentRequest) -> Label | None:
        """The label an earlier try bought for ``request.reference``, if its answer reached
        this process; otherwise FedEx's shipments with that reference are cancelled (their
        labels cannot be fetched again) and None is returned, so the label is bought anew."""
        kept = self._received.get((account.id, account.tenant, request.reference))
        if kept is not None:
            return kept
        client = self.client(account)
        around = request.ship_date or datetime.now(UTC).date()
        for _ in range(MAX_ORPHANS):
            data = await client.call(
                "POST",
                "/track/v1/referencenumbers",
                reference_request(client.account_number, request.reference, around, request.destination),
            )
            live = [number for number, status in parse_references(data) if status != "CA"]
            if not live:
                return None
            await self._cancel(client, live[0], orphan_of=request.reference)
            if len(set(live)) == 1:
                return None  # the one orphan is cancelled; several packages are looked up again
        raise ChannelError(
            f"fedex: more than {MAX_ORPHANS} shipments carry reference {request.reference}", code=REFUSED
        )

    async def void_label(self, account: CarrierAccount, label: Label) -> None:
        await self._cancel(self.client(account), label.carrier_shipment_id)
        self._forget(account, label)

    async def _cancel(
        self, client: FedExClient, tracking_number: str, *, orphan_of: str | None = None
    ) -> None:
        data = await client.call(
            "PUT", "/ship/v1/shipments/cancel", cancel_request(client.account_number, tracking_number)
        )
        output = data.get("output") or {}
        if output.get("cancelledShipment") is True:
            return
        alerts = [
            str(a.get("message") or a.get("code"))
            for a in output.get("alerts") or []
            if isinstance(a, Mapping)
        ]
        said = "; ".join(alerts) or str(output.get("message") or "FedEx did not cancel the shipment")
        if orphan_of is not None:
            said = (
                f"FedEx shipment {tracking_number} was bought for {orphan_of} but its label never reached "
                f"Crossdock, and FedEx will not cancel it ({said}); settle it with FedEx"
            )
        raise ChannelError(said, code=REFUSED)

    # ------------------------------------------------------------ tracking

    async def track(
        self, account: CarrierAccount, tracking_numbers: Sequence[str]
    ) -> Sequence[TrackingResult]:
        client = self.client(account)
        results: list[TrackingResult] = []
        numbers = list(dict.fromkeys(tracking_numbers))
        for start in range(0, len(numbers), TRACK_BATCH):
            batch = numbers[start : start + TRACK_BATCH]
            data = await client.call("POST", "/track/v1/trackingnumbers", track_request(batch))
            results.extend(parse_tracking(data, batch))
        return results

    # ------------------------------------------------------------ pickups, addresses

    async def schedule_pickup(self, account: CarrierAccount, request: PickupRequest) -> Pickup:
        client = self.client(account)
        body = pickup_request(
            client.account_number,
            request,
            carrier_code=str(account.settings.get("pickup_carrier_code") or "FDXE"),
        )
        data = await client.call("POST", "/pickup/v1/pickups", body, transaction_id=request.reference)
        code = (data.get("output") or {}).get("pickupConfirmationCode")
        if not code:
            raise ChannelError(
                "fedex /pickup/v1/pickups answered without a confirmation", code="MALFORMED", retryable=True
            )
        return Pickup(
            confirmation=str(code), day=request.day, window=f"{request.ready_time}-{request.close_time}"
        )

    async def validate_address(self, account: CarrierAccount, address: Address) -> AddressCheck:
        data: Mapping[str, Any] = await self.client(account).call(
            "POST", "/address/v1/addresses/resolve", address_request(address)
        )
        return parse_address(data, address)
