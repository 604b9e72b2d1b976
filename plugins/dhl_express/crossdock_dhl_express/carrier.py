"""DHL Express as a Crossdock carrier: rates, labels, tracking, pickups and address checks
through the MyDHL API.

Voiding: the MyDHL API has no call that cancels a shipment (its OpenAPI document has no
``DELETE /shipments``). DHL Express bills a shipment once it is tendered, so a label is
voided by never handing it over: :meth:`DhlExpressCarrier.void_label` checks that DHL has
no checkpoint for the waybill (``GET /shipments/{id}/tracking``: a scan means the parcel
is in DHL's hands, and the void is ``REFUSED``), then cancels the courier booked with the
shipment (``DELETE /pickups/{dispatchConfirmationNumber}``), which DHL refuses once the
pickup is completed.

Finding a label by reference: our purchase reference is the shipment's customer reference
(``CU``); ``GET /tracking?shipmentReference=...&shipperAccountNumber=...`` with a date
range finds the waybill, and ``GET /shipments/{id}/get-image`` brings back the documents
DHL keeps for it (the waybill document and the commercial invoice).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from crossdock import (
    Address,
    AddressCheck,
    CarrierAccount,
    CarrierBase,
    CarrierCapability,
    ChannelError,
    Label,
    Pickup,
    PickupRequest,
    Rate,
    RateLimit,
    ShipmentRequest,
    TrackingResult,
)
from crossdock_dhl_express import __version__, mapping
from crossdock_dhl_express.client import DhlExpressClient
from crossdock_dhl_express.settings import DhlExpressSettings

__all__ = ["DhlExpressCarrier"]

#: numbers per ``GET /tracking`` call (the API takes a list; DHL's documented maximum was
#: not found, so a conservative batch: README)
TRACK_BATCH = 10
#: days around the ship date searched for a reference (``dateRangeFrom``/``dateRangeTo``)
REFERENCE_WINDOW = timedelta(days=11)


class DhlExpressCarrier(CarrierBase):
    name = "dhl_express"
    display_name = "DHL Express"
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
    rate_limits: Mapping[str, RateLimit] = {}
    track_batch = TRACK_BATCH

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))

    def _client(self, account: CarrierAccount) -> DhlExpressClient:
        return DhlExpressClient(DhlExpressSettings.of(account), http=account.http_client(), clock=self.clock)

    # ------------------------------------------------------------ rates

    async def rates(self, account: CarrierAccount, request: ShipmentRequest) -> Sequence[Rate]:
        client = self._client(account)
        body = mapping.rate_request(client.settings, request, self.clock())
        answer = await client.call("POST", "/rates", body=body)
        rates = mapping.parse_rates(answer or {}, request)
        if request.service_level is not None:
            rates = [r for r in rates if r.service_level == request.service_level] or rates
        return sorted(rates, key=lambda r: r.price.amount)

    # ------------------------------------------------------------ labels

    async def buy_label(self, account: CarrierAccount, request: ShipmentRequest, service: str) -> Label:
        client = self._client(account)
        body = mapping.shipment_request(client.settings, request, service, self.clock())
        answer = await client.call("POST", "/shipments", body=body)
        try:
            return mapping.parse_shipment(answer or {}, service)
        except (KeyError, TypeError) as exc:
            raise ChannelError(
                "DHL Express: a shipment answer without its waybill", code="MALFORMED"
            ) from exc

    async def find_label(self, account: CarrierAccount, request: ShipmentRequest) -> Label | None:
        client = self._client(account)
        day = request.ship_date or self.clock().date()
        params = {
            "shipmentReference": mapping.reference_value(request),
            "shipmentReferenceType": mapping.REFERENCE_TYPE,
            "shipperAccountNumber": client.settings.account_number,
            "dateRangeFrom": (day - REFERENCE_WINDOW).isoformat(),
            "dateRangeTo": (day + REFERENCE_WINDOW).isoformat(),
            "trackingView": "shipment-details-only",
            "levelOfDetail": "all",
        }
        answer = await client.call("GET", "/tracking", params=params, not_found=True)
        shipments = [s for s in (answer or {}).get("shipments") or () if s.get("shipmentTrackingNumber")]
        if not shipments:
            return None
        shipment = shipments[-1]
        awb = str(shipment["shipmentTrackingNumber"])
        month = f"{day:%Y-%m}"
        documents = []
        kinds = ["waybill"]
        if mapping.is_dutiable(request.origin.country, request.destination.country):
            kinds.append("commercial-invoice")
        for kind in kinds:
            images = await client.call(
                "GET",
                f"/shipments/{awb}/get-image",
                params={
                    "shipperAccountNumber": client.settings.account_number,
                    "typeCode": kind,
                    "pickupYearAndMonth": month,
                    "encodingFormat": "pdf",
                },
                not_found=True,
            )
            documents.extend(mapping.parse_documents((images or {}).get("documents")))
        pieces = [str(p["trackingNumber"]) for p in shipment.get("pieces") or () if p.get("trackingNumber")]
        return Label(
            carrier_shipment_id=awb,
            tracking_numbers=[awb],
            documents=documents,
            service=str(shipment.get("productCode") or ""),
            raw={"shipmentTrackingNumber": awb, "pieces": pieces, "found_by_reference": True},
        )

    async def void_label(self, account: CarrierAccount, label: Label) -> None:
        client = self._client(account)
        awb = label.carrier_shipment_id
        answer = await client.call(
            "GET",
            f"/shipments/{awb}/tracking",
            params={
                "trackingView": "last-checkpoint",
                "levelOfDetail": "shipment",
                "requestGMTOffsetPerEvent": "true",
            },
            not_found=True,
        )
        scans = [
            e for s in (answer or {}).get("shipments") or () for e in mapping.tracking_events(s.get("events"))
        ]
        if scans:
            last = max(scans, key=lambda e: e.occurred_at)
            raise ChannelError(
                f"DHL Express has shipment {awb} ({last.code}: {last.description}); "
                "a tendered shipment cannot be voided",
                code="REFUSED",
            )
        confirmation = label.raw.get("dispatchConfirmationNumber") if label.raw else None
        if confirmation:
            await client.call(
                "DELETE",
                f"/pickups/{confirmation}",
                params={"requestorName": client.settings.requestor_name, "reason": "label voided"},
                not_found=True,  # no such pickup (any more): nothing will collect it
            )

    # ------------------------------------------------------------ tracking

    async def track(
        self, account: CarrierAccount, tracking_numbers: Sequence[str]
    ) -> Sequence[TrackingResult]:
        client = self._client(account)
        numbers = list(dict.fromkeys(tracking_numbers))
        results: dict[str, TrackingResult] = {}
        for start in range(0, len(numbers), TRACK_BATCH):
            batch = numbers[start : start + TRACK_BATCH]
            answer: dict[str, Any] | None
            if len(batch) == 1:
                answer = await client.call(
                    "GET",
                    f"/shipments/{batch[0]}/tracking",
                    params={
                        "trackingView": "all-checkpoints",
                        "levelOfDetail": "shipment",
                        "requestGMTOffsetPerEvent": "true",
                    },
                    not_found=True,
                )
            else:
                answer = await client.call(
                    "GET",
                    "/tracking",
                    params={
                        "shipmentTrackingNumber": batch,
                        "trackingView": "all-checkpoints",
                        "levelOfDetail": "shipment",
                    },
                    not_found=True,
                )
            for result in mapping.parse_tracking(answer, batch):
                results[result.tracking_number] = result
        return [results[number] for number in tracking_numbers]

    # ------------------------------------------------------------ pickups, addresses

    async def schedule_pickup(self, account: CarrierAccount, request: PickupRequest) -> Pickup:
        client = self._client(account)
        answer = await client.call(
            "POST", "/pickups", body=mapping.pickup_request(client.settings, request, self.clock())
        )
        try:
            return mapping.parse_pickup(answer or {}, request)
        except KeyError as exc:
            raise ChannelError("DHL Express booked no pickup", code="MALFORMED") from exc

    async def validate_address(self, account: CarrierAccount, address: Address) -> AddressCheck:
        client = self._client(account)
        answer = await client.call("GET", "/address-validate", params=mapping.address_query(address))
        return mapping.parse_address_check(answer or {}, address)
