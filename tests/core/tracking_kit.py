"""A small carrier for the tracking tests, ``parcelpost``: a real provider over HTTP and
its emulator (on the kit's :class:`ParcelBook` and :class:`Emulator`), until the carrier
plugins land.

Its (made-up, deliberately plain) protocol: ``GET /v1/tracking?numbers=A,B`` with
``Authorization: Bearer <api_key>`` answers ``{"results": [{"trackingNumber", "status":
"found"|"unknown", "estimatedDelivery", "events": [{"timestamp", "code", "description",
"location"}]}]}`` (at most 10 numbers a call; 401 for a wrong key, in ``{"error": {"code",
"message"}}``). Pushes carry the same ``results`` body, signed
``X-Parcelpost-Signature: sha256=<hex HMAC-SHA256 of the body with the webhook secret>``.
An event's code is the status's code, and the reason's after a dash (``HD-CUS``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import update

from crossdock import Address, hookimpl
from crossdock.db.models import CarrierAccount as AccountRow
from crossdock.db.models import Shipment, ShipmentPackage
from crossdock.errors import ChannelError
from crossdock.providers import (
    CarrierAccount,
    CarrierBase,
    CarrierCapability,
    RateLimit,
    TrackingEvent,
    TrackingReason,
    TrackingResult,
    TrackingStatus,
)
from crossdock.services import fulfilment, tracking
from crossdock.testing.carriers import ParcelBook
from crossdock.testing.emulator import Emulator, Faults, Reply, Request, serve

STATUS_CODES = {
    TrackingStatus.PENDING: "LB",
    TrackingStatus.PICKED_UP: "PU",
    TrackingStatus.IN_TRANSIT: "TR",
    TrackingStatus.ON_HOLD: "HD",
    TrackingStatus.DELIVERY_DELAYED: "DY",
    TrackingStatus.OUT_FOR_DELIVERY: "OD",
    TrackingStatus.READY_FOR_PICKUP: "RP",
    TrackingStatus.DELIVERY_FAILED: "DF",
    TrackingStatus.DELIVERED: "DL",
    TrackingStatus.RETURN_TO_SENDER: "RS",
    TrackingStatus.CANCELLED: "CX",
    TrackingStatus.UNKNOWN: "UK",
}
REASON_CODES = {
    TrackingReason.CUSTOMS_HOLD: "CUS",
    TrackingReason.CUSTOMS_DOCUMENTS: "DOC",
    TrackingReason.DUTIES_UNPAID: "DUT",
    TrackingReason.ADDRESS_ISSUE: "ADR",
    TrackingReason.RECIPIENT_UNAVAILABLE: "NOB",
    TrackingReason.REFUSED: "REF",
    TrackingReason.DAMAGED: "DAM",
    TrackingReason.LOST: "LOS",
    TrackingReason.PROHIBITED: "PRO",
    TrackingReason.WEATHER: "WEA",
    TrackingReason.CARRIER_DELAY: "CDL",
    TrackingReason.OTHER: "OTH",
}
_STATUS_BY_CODE = {v: k for k, v in STATUS_CODES.items()}
_REASON_BY_CODE = {v: k for k, v in REASON_CODES.items()}
SIGNATURE_HEADER = "x-parcelpost-signature"
MAX_NUMBERS = 10


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _results(payload: Any) -> list[TrackingResult]:
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
        raise ChannelError("parcelpost: no results list", code="MALFORMED", retryable=True)
    out = []
    for item in payload["results"]:
        events = []
        for e in item.get("events") or []:
            status_code, _, reason_code = str(e["code"]).partition("-")
            events.append(
                TrackingEvent(
                    occurred_at=datetime.fromisoformat(e["timestamp"]).astimezone(UTC),
                    status=_STATUS_BY_CODE.get(status_code, TrackingStatus.UNKNOWN),
                    code=str(e["code"]),
                    description=str(e.get("description") or ""),
                    reason=_REASON_BY_CODE.get(reason_code) if reason_code else None,
                    location=e.get("location"),
                )
            )
        eta = item.get("estimatedDelivery")
        out.append(
            TrackingResult(
                tracking_number=str(item["trackingNumber"]),
                events=events,
                estimated_delivery=date.fromisoformat(eta) if eta else None,
                found=item.get("status") == "found",
            )
        )
    return out


class ParcelPost(CarrierBase):
    name = "parcelpost"
    display_name = "Parcel Post (test carrier)"
    version = "1.0"
    capabilities = frozenset({CarrierCapability.TRACKING, CarrierCapability.TRACKING_PUSH})
    rate_limits = {"track": RateLimit(50.0, 10)}
    track_batch = 3

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def track(
        self, account: CarrierAccount, tracking_numbers: Sequence[str]
    ) -> Sequence[TrackingResult]:
        await account.throttle("track")
        self.calls.append(list(tracking_numbers))
        try:
            answer = await account.http_client().get(
                f"{account.base_url}/v1/tracking",
                params={"numbers": ",".join(tracking_numbers)},
                headers={"Authorization": f"Bearer {account.credentials['api_key']}"},
            )
        except httpx.HTTPError as exc:
            raise ChannelError(f"parcelpost: {exc}", retryable=True) from None
        if answer.status_code == 429 or answer.status_code >= 500:
            raise ChannelError(f"parcelpost: HTTP {answer.status_code}", retryable=True)
        if answer.status_code == 401:
            raise ChannelError("parcelpost refused the API key", code="CREDENTIALS")
        if answer.status_code != 200:
            raise ChannelError(f"parcelpost: {answer.text[:200]}", code="REFUSED")
        try:
            return _results(answer.json())
        except (ValueError, KeyError, TypeError) as exc:
            raise ChannelError(
                f"parcelpost: malformed answer ({exc})", code="MALFORMED", retryable=True
            ) from None

    def parse_webhook(
        self, account: CarrierAccount, headers: Mapping[str, str], body: bytes
    ) -> Sequence[TrackingResult]:
        given = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER, "")
        expected = sign(str(account.credentials["webhook_secret"]), body)
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
            raise ChannelError("parcelpost push signature does not match", code="SIGNATURE")
        try:
            return _results(json.loads(body))
        except (ValueError, KeyError, TypeError, ChannelError) as exc:
            raise ChannelError(f"parcelpost push: {exc}", code="MALFORMED") from None


class ParcelPostEmulator(Emulator):
    name = "parcelpost"

    def __init__(self, faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.book = ParcelBook("PP")
        self.api_key = "pp-key"
        self.webhook_secret = "pp-secret"
        self.estimates: dict[str, date] = {}
        self.route("GET", "/v1/tracking", self._track)

    def error_body(self, status: int, code: str, message: str) -> Any:
        return {"error": {"code": code, "message": message}}

    def open_account(self) -> dict[str, str]:
        return {"api_key": self.api_key, "webhook_secret": self.webhook_secret}

    def label(self, reference: str, parcels: int = 1) -> list[str]:
        return list(self.book.buy(reference, "standard", parcels).tracking_numbers)

    def scan(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        self.book.scan(tracking_number, status, reason, at)

    def _result(self, number: str) -> dict[str, Any]:
        record = self.book.by_tracking.get(number)
        if record is None:
            return {"trackingNumber": number, "status": "unknown", "events": []}
        eta = self.estimates.get(number)
        return {
            "trackingNumber": number,
            "status": "found",
            "estimatedDelivery": eta.isoformat() if eta else None,
            "events": [
                {
                    "timestamp": when.isoformat(),
                    "code": STATUS_CODES[status] + (f"-{REASON_CODES[reason]}" if reason else ""),
                    "description": f"{status.value}{f' ({reason.value})' if reason else ''}",
                    "location": "Singapore Hub",
                }
                for when, status, reason in record.scans
            ],
        }

    async def _track(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error(401, "unauthorized", "invalid API key")
        numbers = [n for n in request.query.get("numbers", "").split(",") if n]
        if not numbers:
            return self.error(400, "invalid_request", "numbers is required")
        if len(numbers) > MAX_NUMBERS:
            return self.error(400, "invalid_request", f"at most {MAX_NUMBERS} numbers a request")
        return Reply(200, {"results": [self._result(n) for n in numbers]})

    def tracking_push(self, tracking_number: str) -> tuple[dict[str, str], bytes]:
        body = json.dumps({"results": [self._result(tracking_number)]}).encode()
        return {SIGNATURE_HEADER: sign(self.webhook_secret, body), "content-type": "application/json"}, body


class ParcelPostPlugin:
    def __init__(self) -> None:
        self.carrier = ParcelPost()

    @hookimpl
    def crossdock_carriers(self) -> list[ParcelPost]:
        return [self.carrier]


@dataclass
class Env:
    shop: Any
    emulator: ParcelPostEmulator
    account_id: int
    webhook_key: str

    async def shipped(
        self,
        external_id: str,
        *,
        parcels: int = 1,
        address: Address | None = None,
        estimated: date | None = None,
        shipped_at: datetime | None = None,
    ) -> tuple[int, list[str]]:
        """An order shipped with a parcelpost label, as label purchase leaves it."""
        shop = self.shop
        order = shop.market.add_order(
            external_id, buyer=f"Buyer {external_id}", **({"address": address} if address else {})
        )
        await shop.ingest(order)
        row = await shop.order(external_id)
        numbers = self.emulator.label(external_id, parcels)
        async with shop.write() as session:
            shipment = await fulfilment.pack_shipment(
                session, row.id, shop.warehouses["SG1"], carrier="parcelpost", tracking_number=numbers[0]
            )
            shipment_id = shipment.id
        async with shop.unit_of_work() as uow:
            await fulfilment.ship_shipment(uow, shipment_id, shipped_at=shipped_at)
        async with shop.write() as session:
            await session.execute(
                update(Shipment)
                .where(Shipment.id == shipment_id)
                .values(
                    carrier_account_id=self.account_id,
                    tracking_status="pending",
                    estimated_delivery=estimated,
                )
            )
            for i, number in enumerate(numbers, 1):
                session.add(
                    ShipmentPackage(
                        shipment_id=shipment_id, position=i, weight_grams=500, tracking_number=number
                    )
                )
        return shipment_id, numbers


@asynccontextmanager
async def tracking_env(shop: Any, app: Any) -> AsyncIterator[Env]:
    """A shop (the core tests' testmarket one) with a parcelpost account on a served emulator."""
    await shop.receive("SKU-1", "SG1", 50)
    emulator = ParcelPostEmulator()
    async with serve(emulator) as base_url:
        async with shop.write() as session:
            account = AccountRow(
                carrier="parcelpost",
                name="main",
                credentials_encrypted=app.vault.encrypt(emulator.open_account()),
                base_url=base_url,
                settings={},
            )
            session.add(account)
            await session.flush()
            key = await tracking.ensure_webhook_key(session, account.id)
            assert await tracking.ensure_webhook_key(session, account.id) == key  # made once
            account_id = account.id
        yield Env(shop, emulator, account_id, key)
