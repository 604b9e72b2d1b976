"""The warehouse-system conformance suite (WMS, 3PL and marketplace warehouses).

One small subclass per warehouse-system plugin::

    from crossdock.testing.warehouses import WarehouseConformance

    class TestShelfConformance(WarehouseConformance):
        warehouse = "shelf"

        def make_emulator(self, faults):
            return ShelfEmulator(faults)

The emulator satisfies :class:`WarehouseEmulator`. Every test talks to it over real HTTP on
loopback through the plugin itself, loaded as the server loads it: the stock is pulled
whole (every SKU, past the system's page size) with its sellable, reserved, inbound and
unsellable figures; a refused token is a permanent ``ChannelError`` ``CREDENTIALS``; a base
URL the server may not call is refused (``URL_NOT_ALLOWED``) before any request, and the
provider calls through the account's pool, not one of its own; throttling (with
``retry_after``), outages and an unreachable system are retryable. For the capabilities
the system declares: an ASN pushed twice under one reference is announced once and
answers the same id; receipts come back against the reference they were announced under;
an outbound order pushed twice is handed over once.

A provider calls through the :class:`~crossdock.OutboundHTTP` its
:class:`~crossdock.WarehouseAccount` carries (``account.http_client()``), as the server
hands it its own: the suite's accounts carry the kit's guarded pool
(:func:`crossdock.testing.emulator_http`), which allows the emulators' loopback address
and nothing else internal. Override :meth:`WarehouseConformance.account` when the system
needs more than the emulator's credentials and ``base_url``.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest

from crossdock.errors import ChannelError
from crossdock.net import OutboundHTTP, OutboundPolicy
from crossdock.plugins import Plugins, load_plugins
from crossdock.providers import (
    Address,
    InboundLine,
    InboundShipment,
    OutboundLine,
    OutboundOrder,
    StockLine,
    WarehouseAccount,
    WarehouseCapability,
    WarehouseSystem,
)
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.kit import EMULATOR_HOSTS, emulator_http

__all__ = ["WarehouseConformance", "WarehouseEmulator", "sample_inbound", "sample_order"]


def sample_inbound(reference: str, **changes: Any) -> InboundShipment:
    """An ASN of two SKUs from a supplier in Shenzhen, due in a week."""
    shipment = InboundShipment(
        reference=reference,
        lines=[InboundLine("CONF-A", 12), InboundLine("CONF-B", 5)],
        expected_on=(datetime.now(UTC) + timedelta(days=7)).date(),
        ship_from=Address(name="Shenzhen Supplies Ltd", line1="1 Keyuan Road", city="Shenzhen", country="CN"),
    )
    return replace(shipment, **changes) if changes else shipment


def sample_order(reference: str) -> OutboundOrder:
    return OutboundOrder(
        reference=reference,
        lines=[OutboundLine("CONF-A", 2)],
        ship_to=Address(name="Erika Mustermann", line1="Hauptstr. 1", city="Berlin", country="DE"),
    )


class WarehouseEmulator(Protocol):
    """What the suite needs from a warehouse-system emulator besides serving its API."""

    faults: Faults
    #: API requests served so far, per operation (any keys): the suite sums them
    requests: Mapping[str, int]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    def open_account(self) -> Mapping[str, Any]:
        """An account; returns the credentials the provider needs (its token ...)."""

    def set_stock(
        self, sku: str, on_hand: int, *, reserved: int = 0, inbound: int = 0, unsellable: int = 0
    ) -> None:
        """The warehouse holds this of ``sku`` (``on_hand`` sellable)."""

    def inbounds(self) -> Mapping[str, Sequence[tuple[str, int]]]:
        """The ASNs announced so far: reference -> ``(sku, quantity)`` lines."""

    def receive(self, reference: str, lines: Mapping[str, tuple[int, int]]) -> None:
        """The warehouse receives the ASN ``reference``: sku -> (received, damaged)."""

    def orders(self) -> Mapping[str, Sequence[tuple[str, int]]]:
        """The outbound orders handed over so far: reference -> ``(sku, quantity)`` lines."""

    def ship(self, reference: str, *, carrier: str, tracking_number: str) -> None:
        """The warehouse ships the order handed over as ``reference`` in full (only for a
        system declaring ``warehouse.shipments_pull``)."""

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        """The next ``count`` API requests answer ``status`` without being carried out."""


class WarehouseConformance:
    """Subclass with ``warehouse`` and ``make_emulator``; see the module doc."""

    warehouse: str = ""
    #: settings every account carries; the short timeout keeps failures quick
    settings: Mapping[str, Any] = {"timeout": 2.0}
    #: the plugins to load (None: every installed one)
    plugins_allowed: Sequence[str] | None = None
    #: how many SKUs the paging test holds (more than the system's page)
    many_skus: int = 250

    def make_emulator(self, faults: Faults) -> Any:
        raise NotImplementedError("return your emulator, built with these faults")

    def load(self) -> Plugins:
        """The plugins, loaded as the server loads them."""
        return load_plugins(self.plugins_allowed)

    def account(self, emulator: Any, base_url: str) -> WarehouseAccount:
        return WarehouseAccount(
            credentials=dict(emulator.open_account()),
            base_url=base_url,
            settings=dict(self.settings),
            http=emulator_http(),
        )

    def with_wrong_credentials(self, account: WarehouseAccount) -> WarehouseAccount:
        return replace(account, credentials={k: f"wrong-{v}" for k, v in account.credentials.items()})

    # ------------------------------------------------------------ plumbing

    @pytest.fixture
    def provider(self) -> WarehouseSystem:
        plugins = self.load()
        if self.warehouse not in plugins.warehouse_systems:
            pytest.fail(f"no warehouse plugin named {self.warehouse!r} is installed ({plugins.failures})")
        system = plugins.warehouse_systems[self.warehouse]
        assert WarehouseCapability.STOCK_PULL in system.capabilities, "a warehouse system reports stock"
        return system

    @asynccontextmanager
    async def served(self, faults: Faults | None = None) -> AsyncIterator[tuple[Any, WarehouseAccount]]:
        emulator = self.make_emulator(faults or Faults())
        async with serve(emulator) as base_url:
            yield emulator, self.account(emulator, base_url)

    def _needs(self, provider: WarehouseSystem, capability: WarehouseCapability) -> None:
        if capability not in provider.capabilities:
            pytest.skip(f"{self.warehouse} does not declare {capability}")

    async def _fails(self, call: Any, code: str | None = None, *, retryable: bool = False) -> ChannelError:
        with pytest.raises(ChannelError) as caught:
            await call
        error = caught.value
        if code is not None:
            assert error.code == code, f"{error.code}: {error.message}"
        assert error.retryable is retryable, f"{error.code}: {error.message}"
        assert error.message
        return error

    # ------------------------------------------------------------ stock

    async def test_the_stock_is_pulled_with_every_figure(self, provider: WarehouseSystem) -> None:
        async with self.served() as (emulator, account):
            emulator.set_stock("CONF-A", 12, reserved=2, inbound=30, unsellable=1)
            emulator.set_stock("CONF-B", 0, inbound=5)
            emulator.set_stock("CONF-Ü/1", 7)
            lines = await provider.pull_stock(account)
        assert all(isinstance(line, StockLine) for line in lines)
        assert sorted(lines, key=lambda line: line.sku) == [
            StockLine("CONF-A", 12, reserved=2, inbound=30, unsellable=1),
            StockLine("CONF-B", 0, inbound=5),
            StockLine("CONF-Ü/1", 7),
        ]

    async def test_the_stock_is_pulled_whole_past_a_page(self, provider: WarehouseSystem) -> None:
        async with self.served() as (emulator, account):
            for i in range(self.many_skus):
                emulator.set_stock(f"CONF-{i:04d}", i)
            lines = await provider.pull_stock(account)
        assert {line.sku: line.on_hand for line in lines} == {
            f"CONF-{i:04d}": i for i in range(self.many_skus)
        }
        assert len(lines) == self.many_skus, "no SKU twice"

    async def test_an_empty_warehouse_pulls_nothing(self, provider: WarehouseSystem) -> None:
        async with self.served() as (_, account):
            assert list(await provider.pull_stock(account)) == []

    # ------------------------------------------------------------ refusals

    async def test_wrong_credentials_are_credentials(self, provider: WarehouseSystem) -> None:
        async with self.served() as (emulator, account):
            emulator.set_stock("CONF-A", 1)
            await self._fails(provider.pull_stock(self.with_wrong_credentials(account)), "CREDENTIALS")

    async def test_a_base_url_the_server_may_not_call_is_refused(self, provider: WarehouseSystem) -> None:
        async with self.served() as (emulator, account):
            for url in ("http://wms.example.com", "https://169.254.169.254", "https://localhost:8443"):
                bad = replace(account, base_url=url)
                await self._fails(provider.pull_stock(bad), "URL_NOT_ALLOWED")
            assert sum(emulator.requests.values()) == 0

    async def test_the_accounts_pool_is_the_one_called_through(self, provider: WarehouseSystem) -> None:
        async with self.served() as (emulator, account):
            strict = replace(account, http=OutboundHTTP(OutboundPolicy()))  # allows nothing internal
            await self._fails(provider.pull_stock(strict), "URL_NOT_ALLOWED")
            assert sum(emulator.requests.values()) == 0, "the provider called through a pool of its own"
            emulator.set_stock("CONF-A", 3)
            assert [line.on_hand for line in await provider.pull_stock(account)] == [3]

    # ------------------------------------------------------------ transient failures

    async def test_throttling_is_retryable_with_retry_after(self, provider: WarehouseSystem) -> None:
        async with self.served() as (emulator, account):
            emulator.set_stock("CONF-A", 3)
            emulator.fail_next(1, status=429, retry_after=3)
            error = await self._fails(provider.pull_stock(account), retryable=True)
            assert [line.on_hand for line in await provider.pull_stock(account)] == [3]
        assert error.retry_after == pytest.approx(3, abs=1)

    @pytest.mark.parametrize("status", [500, 503])
    async def test_an_outage_is_retryable(self, provider: WarehouseSystem, status: int) -> None:
        async with self.served() as (emulator, account):
            emulator.fail_next(1, status=status)
            await self._fails(provider.pull_stock(account), retryable=True)

    async def test_an_unreachable_system_is_retryable(self, provider: WarehouseSystem) -> None:
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind((EMULATOR_HOSTS[0], 0))
            port = probe.getsockname()[1]
        emulator = self.make_emulator(Faults())
        account = self.account(emulator, f"http://{EMULATOR_HOSTS[0]}:{port}")
        await self._fails(provider.pull_stock(account), retryable=True)

    # ------------------------------------------------------------ inbound, receipts, orders

    async def test_an_asn_pushed_twice_is_announced_once(self, provider: WarehouseSystem) -> None:
        self._needs(provider, WarehouseCapability.INBOUND_PUSH)
        shipment = sample_inbound("conf-asn-1")
        async with self.served() as (emulator, account):
            first = await provider.push_inbound(account, shipment)
            again = await provider.push_inbound(account, shipment)
            other = await provider.push_inbound(account, sample_inbound("conf-asn-2"))
            announced = dict(emulator.inbounds())
        assert first
        assert first == again
        assert other != first
        assert sorted(announced) == ["conf-asn-1", "conf-asn-2"]
        assert sorted(announced["conf-asn-1"]) == [("CONF-A", 12), ("CONF-B", 5)]

    async def test_receipts_come_back_against_their_reference(self, provider: WarehouseSystem) -> None:
        self._needs(provider, WarehouseCapability.RECEIPTS_PULL)
        since = datetime.now(UTC) - timedelta(minutes=1)
        async with self.served() as (emulator, account):
            if WarehouseCapability.INBOUND_PUSH in provider.capabilities:
                await provider.push_inbound(account, sample_inbound("conf-rcpt-1"))
            assert list(await provider.pull_receipts(account, since)) == []
            emulator.receive("conf-rcpt-1", {"CONF-A": (11, 1), "CONF-B": (5, 0)})
            receipts = list(await provider.pull_receipts(account, since))
        assert [r.reference for r in receipts] == ["conf-rcpt-1"]
        got = {line.sku: (line.received, line.damaged) for line in receipts[0].lines}
        assert got == {"CONF-A": (11, 1), "CONF-B": (5, 0)}
        received_at = receipts[0].received_at
        assert received_at is None or received_at.utcoffset() == timedelta(0)

    async def test_an_order_pushed_twice_is_handed_over_once(self, provider: WarehouseSystem) -> None:
        self._needs(provider, WarehouseCapability.ORDER_PUSH)
        async with self.served() as (emulator, account):
            first = await provider.push_order(account, sample_order("conf-order-1"))
            again = await provider.push_order(account, sample_order("conf-order-1"))
            handed = dict(emulator.orders())
        assert first
        assert first == again
        assert handed == {"conf-order-1": [("CONF-A", 2)]}

    async def test_shipments_come_back_against_the_orders_reference(self, provider: WarehouseSystem) -> None:
        self._needs(provider, WarehouseCapability.SHIPMENTS_PULL)
        since = datetime.now(UTC) - timedelta(minutes=1)
        async with self.served() as (emulator, account):
            if WarehouseCapability.ORDER_PUSH in provider.capabilities:
                await provider.push_order(account, sample_order("conf-ship-1"))
                await provider.push_order(account, sample_order("conf-ship-2"))
            assert list(await provider.pull_shipments(account, since)) == []
            emulator.ship("conf-ship-1", carrier="DHL", tracking_number="JD014600003828")
            shipped = list(await provider.pull_shipments(account, since))
        assert [(s.reference, s.tracking_number) for s in shipped] == [("conf-ship-1", "JD014600003828")]
        assert shipped[0].carrier, "the carrier is named"
        shipped_at = shipped[0].shipped_at
        assert shipped_at is None or shipped_at.utcoffset() == timedelta(0)
