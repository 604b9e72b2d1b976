"""The carrier conformance suite, and what carrier emulators share.

One small subclass per carrier plugin::

    from crossdock.testing.carriers import CarrierConformance

    class TestPigeonConformance(CarrierConformance):
        carrier = "pigeon"

        def make_emulator(self, faults):
            return PigeonEmulator(faults)

The emulator satisfies :class:`CarrierEmulator`. Every test talks to it over real HTTP on
loopback through the plugin's own client: rates, labels (their documents are real PDF,
ZPL or PNG), a purchase that is never made twice for one reference (answers lost on the
way included), refusals as typed errors, voiding before and after hand-over, tracking
normalised to :class:`~crossdock.providers.TrackingStatus` (polled in batches, and pushed
and verified), pickups, manifests and address checks. A test whose capability the provider
does not declare is skipped.

A marketplace's own logistics overrides :meth:`CarrierConformance.account` (the account is
a shop's connection) and :meth:`CarrierConformance.request` (the shipment is an order the
emulator holds).

:class:`ParcelBook` is the bookkeeping every carrier emulator needs (labels by reference,
parcels and their scans, hand-over); :func:`pdf_document`, :func:`zpl_document` and
:func:`png_document` make small but valid documents for an emulator to return.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import pytest

from crossdock.errors import ChannelError
from crossdock.jobs.carrier import buy_once
from crossdock.money import Money
from crossdock.plugins import load_plugins
from crossdock.providers import (
    TRACKING_FINAL,
    Address,
    CarrierAccount,
    CarrierCapability,
    CarrierProvider,
    CustomsItem,
    DocumentFormat,
    DocumentKind,
    Incoterm,
    ItemFlag,
    Label,
    ManifestItem,
    Parcel,
    PickupRequest,
    ShipmentRequest,
    TrackingReason,
    TrackingStatus,
)
from crossdock.testing.emulator import Faults, serve

__all__ = [
    "CarrierConformance",
    "CarrierEmulator",
    "Parcel",
    "ParcelBook",
    "ParcelRecord",
    "pdf_document",
    "png_document",
    "sample_request",
    "zpl_document",
]

MAGIC = {DocumentFormat.PDF: b"%PDF-", DocumentFormat.ZPL: b"^XA", DocumentFormat.PNG: b"\x89PNG\r\n\x1a\n"}

SENDER = Address(
    name="Crossdock Conformance",
    company="Conformance Trading Pte Ltd",
    line1="10 Anson Road",
    line2="#20-01",
    city="Singapore",
    postal_code="079903",
    country="SG",
    phone="+6561234567",
    email="ship@conformance.example",
)
BUYER = Address(
    name="Erika Mustermann",
    line1="Friedrichstrasse 43",
    city="Berlin",
    postal_code="10117",
    country="DE",
    phone="+4930123456",
    email="erika@example.de",
)


def sample_request(
    reference: str, *, destination: Address = BUYER, parcels: int = 1, **changes: Any
) -> ShipmentRequest:
    """A cross-border parcel SG -> DE with two customs lines, for carriers' own tests."""
    request = ShipmentRequest(
        reference=reference,
        origin=SENDER,
        destination=destination,
        parcels=[
            Parcel(weight_grams=800, length_mm=300, width_mm=200, height_mm=100) for _ in range(parcels)
        ],
        declared_value=Money(Decimal("59.80"), "EUR"),
        items=[
            CustomsItem(
                description="Cotton T-shirt",
                quantity=2,
                value=Money(Decimal("19.90"), "EUR"),
                weight_grams=200,
                hs_code="610910",
                origin_country="VN",
                sku="CONF-1",
            ),
            CustomsItem(
                description="Canvas tote bag",
                quantity=1,
                value=Money(Decimal("20.00"), "EUR"),
                weight_grams=300,
                hs_code="420222",
                origin_country="CN",
                sku="CONF-2",
            ),
        ],
        incoterm=Incoterm.DDP,
        ship_date=datetime.now(UTC).date(),
    )
    return replace(request, **changes) if changes else request


# --------------------------------------------------------------------------- emulators


@dataclass
class ParcelRecord:
    """A label an emulator sold: its numbers, state and scans (``(when, status, reason)``;
    the emulator turns them into its own codes)."""

    shipment_id: str
    reference: str
    tracking_numbers: list[str]
    service: str
    request: Any = None
    voided: bool = False
    handed_over: bool = False
    scans: list[tuple[datetime, TrackingStatus, TrackingReason | None]] = field(default_factory=list)


class ParcelBook:
    """Labels by reference and by tracking number, for an emulator to keep its state in.

    ``buy`` refuses nothing itself: the emulator validates the request as its carrier does,
    then records the sale here. A second ``buy`` with the same reference is the carrier
    selling a second label (what clients must avoid): :meth:`bought` counts them.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._ids = itertools.count(1)
        self.by_reference: dict[str, list[ParcelRecord]] = {}
        self.by_tracking: dict[str, ParcelRecord] = {}
        self.by_shipment: dict[str, ParcelRecord] = {}

    def buy(self, reference: str, service: str, parcels: int = 1, request: Any = None) -> ParcelRecord:
        n = next(self._ids)
        numbers = [f"{self.prefix}{n:06d}{i:02d}" for i in range(1, max(1, parcels) + 1)]
        record = ParcelRecord(f"{self.prefix}-S{n:06d}", reference, numbers, service, request)
        record.scans.append((datetime.now(UTC), TrackingStatus.PENDING, None))
        self.by_reference.setdefault(reference, []).append(record)
        self.by_shipment[record.shipment_id] = record
        for number in numbers:
            self.by_tracking[number] = record
        return record

    def bought(self, reference: str) -> int:
        """Labels sold for ``reference`` (and not voided)."""
        return sum(1 for r in self.by_reference.get(reference, ()) if not r.voided)

    def latest(self, reference: str) -> ParcelRecord | None:
        live = [r for r in self.by_reference.get(reference, ()) if not r.voided]
        return live[-1] if live else None

    def scan(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> ParcelRecord:
        record = self.by_tracking[tracking_number]
        if status not in (TrackingStatus.PENDING, TrackingStatus.CANCELLED):
            record.handed_over = True
        record.scans.append((at or datetime.now(UTC), status, reason))
        return record


def pdf_document(*lines: str, width: int = 288, height: int = 432) -> bytes:
    """A one-page PDF (4 x 6 in by default) showing ``lines``: small, valid, mergeable."""
    text = " ".join(
        f"({line.replace(chr(92), '').replace('(', '[').replace(')', ']')}) Tj 0 -16 Td" for line in lines
    )
    stream = f"BT /F1 11 Tf 18 {height - 36} Td {text} ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] /Contents 4 0 R "
        f"/Resources << /Font << /F1 5 0 R >> >> >>".encode(),
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def zpl_document(*lines: str) -> bytes:
    """A ZPL II label printing ``lines`` (one ``^XA ... ^XZ`` format)."""
    fields = "".join(f"^FO40,{40 + 40 * i}^A0N,30,30^FD{line}^FS" for i, line in enumerate(lines))
    return f"^XA{fields}^XZ\n".encode("ascii", "replace")


def png_document(width: int = 8, height: int = 8) -> bytes:
    """A small white PNG (a label image as some carriers return it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class CarrierEmulator(Protocol):
    """What the suite needs from a carrier emulator besides serving its API."""

    faults: Faults

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    def open_account(self) -> Mapping[str, Any]:
        """A shipper account; returns the credentials the plugin needs (the suite puts them
        in :attr:`CarrierAccount.credentials`)."""

    def labels_bought(self, reference: str) -> int:
        """Labels the carrier sold for ``reference`` and did not void."""

    def scan(
        self,
        tracking_number: str,
        status: TrackingStatus,
        reason: TrackingReason | None = None,
        at: datetime | None = None,
    ) -> None:
        """The carrier scans the parcel (``picked_up`` and later: it was handed over)."""

    def tracking_push(self, tracking_number: str) -> tuple[Mapping[str, str], bytes]:
        """The signed push the carrier would send about the parcel's scans (carriers
        declaring ``carrier.tracking_push``)."""


# --------------------------------------------------------------------------- the suite


class CarrierConformance:
    """Subclass with ``carrier`` and ``make_emulator``; see the module doc."""

    carrier: str = ""
    #: account settings the plugin needs; the short timeout keeps lost answers quick
    settings: Mapping[str, Any] = {"timeout": 1.0}
    #: the plugins to load (None: every installed one)
    plugins_allowed: Sequence[str] | None = None
    #: False for a carrier whose shipments cannot be cancelled through its API at all, even
    #: before hand-over (a marketplace's own logistics, e.g. Shopee once shipment is
    #: arranged): ``void_label`` is then refused both before and after, and buys nothing back
    voidable: bool = True

    def make_emulator(self, faults: Faults) -> Any:
        raise NotImplementedError("return your emulator, built with these faults")

    def account(self, emulator: Any, base_url: str) -> CarrierAccount:
        """The account the tests call with (override for a marketplace's logistics); its
        HTTP pool allows the emulator's loopback address, as the test App's does."""
        from crossdock.testing.kit import emulator_http

        return CarrierAccount(
            id=1,
            tenant="conformance",
            carrier=self.carrier,
            credentials=dict(emulator.open_account()),
            base_url=base_url,
            settings=dict(self.settings),
            http=emulator_http(),
        )

    def request(
        self, emulator: Any, account: CarrierAccount, reference: str, **changes: Any
    ) -> ShipmentRequest:
        """A shipment to quote and buy (override to make the emulator hold an order first)."""
        return sample_request(reference, **changes)

    def refused_request(self, emulator: Any, account: CarrierAccount, reference: str) -> ShipmentRequest:
        """A shipment the carrier refuses: by default, to an address with no city nor
        postal code."""
        bad = replace(BUYER, city="", postal_code="", line1="")
        return self.request(emulator, account, reference, destination=bad)

    # ------------------------------------------------------------ plumbing

    @pytest.fixture
    def provider(self) -> CarrierProvider:
        plugins = load_plugins(self.plugins_allowed)
        if self.carrier not in plugins.carriers:
            pytest.fail(f"no carrier plugin named {self.carrier!r} is installed ({plugins.failures})")
        return plugins.carriers[self.carrier]

    def _require(self, provider: CarrierProvider, capability: CarrierCapability) -> None:
        if capability not in provider.capabilities:
            pytest.skip(f"{self.carrier} does not declare {capability}")

    @asynccontextmanager
    async def served(self, faults: Faults | None = None) -> AsyncIterator[tuple[Any, CarrierAccount]]:
        emulator = self.make_emulator(faults or Faults())
        async with serve(emulator) as base_url:
            yield emulator, self.account(emulator, base_url)

    async def _service(
        self, provider: CarrierProvider, account: CarrierAccount, request: ShipmentRequest
    ) -> str:
        if CarrierCapability.RATES in provider.capabilities:
            rates = await provider.rates(account, request)
            assert rates, "no rate for a plain parcel"
            return rates[0].service
        return str(account.settings.get("service", "standard"))

    async def _buy(
        self, provider: CarrierProvider, account: CarrierAccount, reference: str
    ) -> tuple[ShipmentRequest, Label]:
        request = self.request(self.emulator, account, reference)
        service = await self._service(provider, account, request)
        return request, await buy_once(provider, account, request, service)

    # ------------------------------------------------------------ rates

    async def test_rates_are_typed_quotes(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.RATES)
        async with self.served() as (self.emulator, account):
            rates = await provider.rates(account, self.request(self.emulator, account, "conf-rates"))
        assert rates
        for rate in rates:
            assert rate.carrier == provider.name
            assert rate.service
            assert rate.service_name
            assert rate.price.amount > 0
            assert len(rate.price.currency) == 3
            assert rate.transit_days is None or 0 < rate.transit_days < 90
            assert rate.estimated_delivery is None or rate.estimated_delivery >= date.today() - timedelta(
                days=1
            )
            assert all(isinstance(flag, ItemFlag) for flag in rate.cannot_carry)

    # ------------------------------------------------------------ labels

    async def test_a_label_has_tracking_and_real_documents(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.LABELS)
        async with self.served() as (self.emulator, account):
            _request, label = await self._buy(provider, account, "conf-label")
            assert self.emulator.labels_bought("conf-label") == 1
        assert label.carrier_shipment_id
        assert label.tracking_numbers
        assert all(label.tracking_numbers)
        labels = [d for d in label.documents if d.kind == DocumentKind.LABEL]
        assert labels, "a label purchase returns the label"
        for document in label.documents:
            assert document.content.startswith(MAGIC[document.format]), (
                f"{document.kind} is not a {document.format}"
            )
        assert label.price is None or label.price.amount > 0

    async def test_the_same_reference_finds_the_same_label(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.LABELS)
        async with self.served() as (self.emulator, account):
            request = self.request(self.emulator, account, "conf-find")
            assert await provider.find_label(account, request) is None
            service = await self._service(provider, account, request)
            bought = await provider.buy_label(account, request, service)
            found = await provider.find_label(account, request)
            again = await buy_once(provider, account, request, service, resume=True)
            assert self.emulator.labels_bought("conf-find") == 1
        assert found is not None
        assert found.tracking_numbers == bought.tracking_numbers
        assert again.tracking_numbers == bought.tracking_numbers
        assert any(d.kind == DocumentKind.LABEL for d in found.documents), (
            "a found label brings its documents"
        )

    async def test_lost_answers_never_buy_twice(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.LABELS)
        faults = Faults(
            lost_answer=0.3, server_error=0.1, throttle=0.05, retry_after=0.05, timeout_seconds=0.1, seed=7
        )
        references = [f"conf-lost-{i}" for i in range(5)]
        async with self.served(Faults()) as (self.emulator, account):
            requests = [self.request(self.emulator, account, ref) for ref in references]
            service = await self._service(provider, account, requests[0])
            self.emulator.faults = faults
            self.emulator.rng.seed(faults.seed)
            labels: dict[str, Label] = {}
            for request in requests:
                for _ in range(4):  # a purchase left open is resumed, as the core does
                    try:
                        labels[request.reference] = await buy_once(
                            provider, account, request, service, resume=True, attempts=6, base_delay=0.01
                        )
                        break
                    except ChannelError as exc:
                        if not exc.retryable:
                            raise
            self.emulator.faults = Faults()
            assert self.emulator.injected["lost_answer"] > 0, "the test lost no answer"
            for reference in references:
                assert self.emulator.labels_bought(reference) == 1, reference
            assert set(labels) == set(references)

    async def test_a_refusal_is_typed_and_buys_nothing(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.LABELS)
        async with self.served() as (self.emulator, account):
            request = self.refused_request(self.emulator, account, "conf-refused")
            good = self.request(self.emulator, account, "conf-refused-ok")
            service = await self._service(provider, account, good)
            with pytest.raises(ChannelError) as caught:
                await buy_once(provider, account, request, service)
            assert self.emulator.labels_bought("conf-refused") == 0
        assert caught.value.code == "REFUSED"
        assert not caught.value.retryable
        assert caught.value.message

    async def test_void_before_hand_over_not_after(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.LABELS)
        async with self.served() as (self.emulator, account):
            _, first = await self._buy(provider, account, "conf-void-1")
            if self.voidable:
                await provider.void_label(account, first)
                assert self.emulator.labels_bought("conf-void-1") == 0
            else:
                with pytest.raises(ChannelError) as refused:
                    await provider.void_label(account, first)
                assert (refused.value.code, refused.value.retryable) == ("REFUSED", False)
                assert refused.value.message
                assert self.emulator.labels_bought("conf-void-1") == 1
            _, second = await self._buy(provider, account, "conf-void-2")
            self.emulator.scan(second.tracking_numbers[0], TrackingStatus.PICKED_UP)
            with pytest.raises(ChannelError) as caught:
                await provider.void_label(account, second)
            assert self.emulator.labels_bought("conf-void-2") == 1
        assert caught.value.code == "REFUSED"
        assert not caught.value.retryable

    # ------------------------------------------------------------ tracking

    async def test_tracking_is_normalised(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.TRACKING)
        self._require(provider, CarrierCapability.LABELS)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
        journey = [
            (TrackingStatus.PICKED_UP, None),
            (TrackingStatus.IN_TRANSIT, None),
            (TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD),
            (TrackingStatus.OUT_FOR_DELIVERY, None),
            (TrackingStatus.DELIVERED, None),
        ]
        async with self.served() as (self.emulator, account):
            _, label = await self._buy(provider, account, "conf-track")
            number = label.tracking_numbers[0]
            for hours, (status, reason) in enumerate(journey):
                self.emulator.scan(number, status, reason, start + timedelta(hours=6 * hours))
            results = await provider.track(account, [number])
        assert [r.tracking_number for r in results] == [number]
        events = sorted(results[0].events, key=lambda e: e.occurred_at)
        for event in events:
            assert event.occurred_at.tzinfo is not None
            assert event.occurred_at.utcoffset() == timedelta(0)
            assert isinstance(event.status, TrackingStatus)
            assert event.code
            assert event.description
        # the label's own "pending" (made when it was bought, i.e. now) is not part of the
        # journey, which the test dates in the past
        scans = [e for e in events if e.status not in (TrackingStatus.PENDING, TrackingStatus.UNKNOWN)]
        assert [e.status for e in scans] == [status for status, _ in journey]
        held = next(e for e in events if e.status == TrackingStatus.ON_HOLD)
        assert held.reason == TrackingReason.CUSTOMS_HOLD
        assert scans[-1].status in TRACKING_FINAL
        assert scans[-1].occurred_at == start + timedelta(hours=24)

    async def test_tracking_in_batches_and_unknown_numbers(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.TRACKING)
        self._require(provider, CarrierCapability.LABELS)
        batch = max(1, min(3, getattr(provider, "track_batch", 1)))
        async with self.served() as (self.emulator, account):
            numbers = []
            for i in range(batch):
                _, label = await self._buy(provider, account, f"conf-batch-{i}")
                numbers.append(label.tracking_numbers[0])
                self.emulator.scan(numbers[-1], TrackingStatus.IN_TRANSIT)
            results = await provider.track(account, numbers)
            unknown = await provider.track(account, ["NOSUCHPARCEL0001"])
        assert sorted(r.tracking_number for r in results) == sorted(numbers)
        assert all(r.found and any(e.status == TrackingStatus.IN_TRANSIT for e in r.events) for r in results)
        assert all(not r.found and not r.events for r in unknown)

    async def test_tracking_pushes_verify(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.TRACKING_PUSH)
        self._require(provider, CarrierCapability.LABELS)
        async with self.served() as (self.emulator, account):
            _, label = await self._buy(provider, account, "conf-push")
            number = label.tracking_numbers[0]
            self.emulator.scan(number, TrackingStatus.DELIVERY_FAILED, TrackingReason.RECIPIENT_UNAVAILABLE)
            headers, body = self.emulator.tracking_push(number)
        results = provider.parse_webhook(account, headers, body)
        assert [r.tracking_number for r in results] == [number]
        failed = [e for e in results[0].events if e.status == TrackingStatus.DELIVERY_FAILED]
        assert failed
        assert failed[-1].reason == TrackingReason.RECIPIENT_UNAVAILABLE
        with pytest.raises(ChannelError) as caught:
            provider.parse_webhook(account, headers, body.replace(number.encode(), b"FORGED0000000"))
        assert caught.value.code == "SIGNATURE"

    # ------------------------------------------------------------ pickups, manifests, addresses

    async def test_pickup(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.PICKUPS)
        async with self.served() as (self.emulator, account):
            _, label = await self._buy(provider, account, "conf-pickup")
            day = date.today() + timedelta(days=1)
            pickup = await provider.schedule_pickup(
                account,
                PickupRequest(
                    reference="conf-pickup-1",
                    address=SENDER,
                    day=day,
                    ready_time="10:00",
                    close_time="17:00",
                    tracking_numbers=label.tracking_numbers,
                    parcels=1,
                    weight_grams=800,
                ),
            )
        assert pickup.confirmation
        assert pickup.day >= day

    async def test_manifest(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.MANIFESTS)
        async with self.served() as (self.emulator, account):
            labels = [(await self._buy(provider, account, f"conf-manifest-{i}"))[1] for i in range(2)]
            manifest = await provider.create_manifest(
                account, [ManifestItem(label.carrier_shipment_id, label.tracking_numbers) for label in labels]
            )
        assert manifest.external_id
        for document in manifest.documents:
            assert document.content.startswith(MAGIC[document.format])

    async def test_address_validation(self, provider: CarrierProvider) -> None:
        self._require(provider, CarrierCapability.ADDRESS_VALIDATION)
        async with self.served() as (self.emulator, account):
            good = await provider.validate_address(account, BUYER)
            bad = await provider.validate_address(account, replace(BUYER, postal_code="", city=""))
        assert good.valid
        assert not bad.valid
        assert bad.messages
