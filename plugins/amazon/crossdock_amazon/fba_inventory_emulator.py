"""A local FBA Inventory API v1 (``getInventorySummaries``), for the ``amazon_fba`` warehouse.

:class:`FbaInventoryEmulator` serves ``GET /fba/inventory/v1/summaries`` on the plugin's
:class:`~crossdock_amazon.emulator.AmazonEmulator` (``.api``: its Login with Amazon token
endpoint, sellers and access tokens, SP-API's 403 ``Unauthorized`` and error envelope, usage
plans announced in ``x-amzn-RateLimit-Limit``, :class:`~crossdock.testing.emulator.Faults`),
held rather than inherited (its names, ``orders`` and ``open_account``, mean other things
there), and adds the seller-side helpers of the warehouse kit's ``WarehouseEmulator``
(``open_account``, ``set_stock``, ``fail_next``; FBA takes no ASN or order through this
API, so ``inbounds`` and ``orders`` are empty and ``receive`` is not offered).

Refused as Amazon refuses (fbaInventory.json; the texts are the emulator's own unless
noted): a missing, unknown or expired access token (403 ``Unauthorized``, the token's fault
in ``details``); a missing ``granularityType``, ``granularityId`` or ``marketplaceIds``, a
``granularityType`` other than ``Marketplace``, a ``granularityId`` that is not the
marketplace asked for, more than one marketplace id (``maxItems: 1``), an unknown
marketplace or one the seller does not sell in, ``details`` neither ``true`` nor ``false``,
more than 50 ``sellerSkus``, a ``startDateTime`` that is not ISO 8601 or older than 18
months, and a ``nextToken`` it did not hand out, handed out for another query or seller, or
older than 30 seconds ("Next token is invalid or expired", the wording sellers report in
issue amzn/selling-partner-api-models#4946): each 400 ``InvalidInput``. Pages hold 50
summaries, ordered by SKU; without ``details=true`` a summary has no ``inventoryDetails``.
"""

from __future__ import annotations

import contextvars
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from crossdock.testing.emulator import Faults, Handler, Reply, Request
from crossdock_amazon.emulator import MARKETPLACES, AmazonEmulator, asin_of
from crossdock_amazon.fba_inventory import OPERATION, PAGE_SIZE, PATH

__all__ = ["NEXT_TOKEN_TTL", "FbaInventoryEmulator"]

#: seconds a nextToken lives (the newer model's ``nextToken`` description, as the SDKs
#: generated from it carry it: "will expire 30 seconds after being created")
NEXT_TOKEN_TTL = 30.0
#: how far back ``startDateTime`` may reach (the model: "no earlier than 18 months")
START_REACH = timedelta(days=548)
MAX_SELLER_SKUS = 50
EXPIRED_TOKEN = "Next token is invalid or expired"
#: the raw query string of the request being answered (repeated parameters count)
_QUERY: contextvars.ContextVar[bytes] = contextvars.ContextVar("fba_emulator_query", default=b"")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Page:
    """Where a nextToken resumes, and the query it belongs to."""

    start: int
    query: tuple[Any, ...]
    expires: float


class _SpApi(AmazonEmulator):
    """The plugin's SP-API emulator with the kit's ``fail_next`` queue, keeping what it
    receives (``seen``)."""

    def __init__(self, faults: Faults | None, clock: Callable[[], float]) -> None:
        super().__init__(faults, clock=clock)
        self.failures: list[tuple[int, float | None]] = []
        self.seen: list[Request] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        _QUERY.set(bytes(scope.get("query_string") or b""))
        await super().__call__(scope, receive, send)

    def _handler(self, request: Request) -> Handler | None:
        self.seen.append(request)
        return super()._handler(request)

    async def _fault(self, request: Request) -> Reply | None:
        if self.failures and request.path not in self.fault_free:
            status, retry_after = self.failures.pop(0)
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            if status == 429:
                return self.error(
                    429, "QuotaExceeded", "You exceeded your quota for the requested resource.", headers
                )
            if status >= 500:
                return self.error(
                    status, "InternalFailure", "We encountered an internal error. Please try again.", headers
                )
            return self.error(status, "InvalidInput", "refused by fault injection", headers)
        return await super()._fault(request)


class FbaInventoryEmulator:
    name = "amazon_fba"

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        clock: Callable[[], float] = time.time,
        marketplace_id: str = "ATVPDKIKX0DER",
    ) -> None:
        #: the SP-API emulator serving LWA and the FBA Inventory route
        self.api = _SpApi(faults, clock)
        self.faults = self.api.faults
        #: API requests served, per path (the token endpoint included)
        self.requests = self.api.requests
        self.clock = clock
        #: the marketplace ``open_account`` sells in and ``set_stock`` stocks
        self.marketplace_id = marketplace_id
        self.api.usage_plans[OPERATION] = 2.0  # fbaInventory.json usage plan
        #: (seller id, marketplace id) -> sku -> its InventorySummary (with details)
        self.inventory: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.next_tokens: dict[str, _Page] = {}
        #: seconds a nextToken handed out from now on lives
        self.next_token_ttl = NEXT_TOKEN_TTL
        #: the seller ``open_account`` opened last (``set_stock`` stocks it)
        self.seller_id: str | None = None
        self.api.route("GET", PATH, self.api._planned(OPERATION, self._summaries))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.api(scope, receive, send)

    @property
    def seen(self) -> list[Request]:
        """Every request received so far."""
        return self.api.seen

    @property
    def injected(self) -> Mapping[str, int]:
        """The faults injected so far."""
        return self.api.injected

    # ------------------------------------------------------------ WarehouseEmulator

    def open_account(self) -> Mapping[str, Any]:
        """A seller selling in :attr:`marketplace_id`; its LWA grant (the account's
        credentials; the marketplace goes in the account's settings)."""
        account = self.api.add_seller(self.marketplace_id)
        self.seller_id = str(account["seller_id"])
        return {k: account[k] for k in ("lwa_client_id", "lwa_client_secret", "refresh_token")}

    def _stock(self, seller_id: str | None = None, marketplace_id: str | None = None) -> dict[str, Any]:
        if seller_id is None:
            if self.seller_id is None:
                self.open_account()  # stock set before any account: a seller to hold it
            seller_id = self.seller_id
        assert seller_id is not None
        return self.inventory.setdefault((seller_id, marketplace_id or self.marketplace_id), {})

    def set_stock(
        self,
        sku: str,
        on_hand: int,
        *,
        reserved: int = 0,
        inbound: int = 0,
        unsellable: int = 0,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
    ) -> None:
        """FBA holds this of ``sku``: ``inbound`` split over the three inbound stages (the
        provider must add them up), ``reserved`` and ``unsellable`` with their breakdowns."""
        shipped, receiving = inbound // 2, inbound // 4
        working = inbound - shipped - receiving
        self.set_summary(
            sku,
            {
                "asin": asin_of(sku),
                "fnSku": f"X00{asin_of(sku)[2:]}",
                "sellerSku": sku,
                "condition": "NewItem",
                "inventoryDetails": {
                    "fulfillableQuantity": on_hand,
                    "inboundWorkingQuantity": working,
                    "inboundShippedQuantity": shipped,
                    "inboundReceivingQuantity": receiving,
                    "reservedQuantity": {
                        "totalReservedQuantity": reserved,
                        "pendingCustomerOrderQuantity": reserved - reserved // 3,
                        "pendingTransshipmentQuantity": reserved // 3,
                        "fcProcessingQuantity": 0,
                    },
                    "researchingQuantity": {
                        "totalResearchingQuantity": 0,
                        "researchingQuantityBreakdown": [],
                    },
                    "unfulfillableQuantity": {
                        "totalUnfulfillableQuantity": unsellable,
                        "customerDamagedQuantity": unsellable,
                        "warehouseDamagedQuantity": 0,
                        "distributorDamagedQuantity": 0,
                        "carrierDamagedQuantity": 0,
                        "defectiveQuantity": 0,
                        "expiredQuantity": 0,
                    },
                },
                "lastUpdatedTime": _iso(self.clock()),
                "productName": f"Product {sku}",
                "totalQuantity": on_hand + inbound + reserved + unsellable,
            },
            seller_id=seller_id,
            marketplace_id=marketplace_id,
        )

    def set_summary(
        self,
        sku: str,
        summary: Mapping[str, Any],
        *,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
    ) -> None:
        """Serve ``summary`` (an InventorySummary as it is, parts left out included) for ``sku``."""
        self._stock(seller_id, marketplace_id)[sku] = dict(summary)

    def inbounds(self) -> Mapping[str, Sequence[tuple[str, int]]]:
        return {}

    def receive(self, reference: str, lines: Mapping[str, tuple[int, int]]) -> None:
        raise NotImplementedError("FBA inbound shipments are not served (Fulfillment Inbound API)")

    def orders(self) -> Mapping[str, Sequence[tuple[str, int]]]:
        return {}

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        """The next ``count`` API requests (not the token endpoint) answer ``status``."""
        self.api.failures += [(status, retry_after)] * count

    # ------------------------------------------------------------ the API

    def _invalid(self, message: str) -> Reply:
        return self.api.error(400, "InvalidInput", message)

    async def _summaries(self, request: Request) -> Reply:
        who = self.api._seller(request)
        if isinstance(who, Reply):
            return who
        seller = who[0]
        raw = parse_qs(_QUERY.get().decode(), keep_blank_values=True)
        query = request.query
        granularity = query.get("granularityType")
        if not granularity:
            return self._invalid("Missing required parameter granularityType")
        if granularity != "Marketplace":
            return self._invalid(f"Invalid granularityType {granularity}: it must be Marketplace")
        granularity_id = query.get("granularityId")
        if not granularity_id:
            return self._invalid("Missing required parameter granularityId")
        ids = [part for value in raw.get("marketplaceIds", []) for part in value.split(",") if part]
        if not ids:
            return self._invalid("Missing required parameter marketplaceIds")
        if len(ids) > 1:
            return self._invalid("marketplaceIds takes exactly one marketplace id")
        marketplace_id = ids[0]
        if marketplace_id not in MARKETPLACES:
            return self._invalid(f"Invalid marketplaceId {marketplace_id}")
        if marketplace_id not in seller.marketplaces:
            return self._invalid(f"The seller does not sell in marketplace {marketplace_id}")
        if granularity_id != marketplace_id:
            return self._invalid(
                f"granularityId {granularity_id} must be the marketplace id "
                "when granularityType is Marketplace"
            )
        details = query.get("details", "false").lower()
        if details not in ("true", "false"):
            return self._invalid(f"Invalid details {query['details']}: it must be true or false")
        skus = [part for value in raw.get("sellerSkus", []) for part in value.split(",") if part]
        if len(skus) > MAX_SELLER_SKUS:
            return self._invalid(f"sellerSkus takes at most {MAX_SELLER_SKUS} SKUs")
        start_time = query.get("startDateTime")
        since: float | None = None
        if start_time is not None:
            try:
                moment = datetime.fromisoformat(start_time.replace("Z", "+00:00"))
            except ValueError:
                return self._invalid(
                    f"Query parameter [startDateTime] value is not a valid ISO date-time object: {start_time}"
                )
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            if moment < datetime.fromtimestamp(self.clock(), UTC) - START_REACH:
                return self._invalid("startDateTime must be no earlier than 18 months ago")
            since = moment.timestamp()
            skus = []  # the model: sellerSkus is ignored with startDateTime
        # what a nextToken is bound to
        shape = (seller.seller_id, marketplace_id, details, since, tuple(skus))
        start = 0
        token = query.get("nextToken")
        if token is not None:
            page = self.next_tokens.get(token)
            if page is None or page.query != shape or page.expires <= self.clock():
                return self._invalid(EXPIRED_TOKEN)
            start = page.start
        stock = self.inventory.get((seller.seller_id, marketplace_id), {})
        rows = [
            stock[sku]
            for sku in sorted(stock)
            if (not skus or sku in skus) and (since is None or self._updated(stock[sku]) >= since)
        ]
        chunk, following = self.api.page(rows, start, PAGE_SIZE)
        summaries = [self._shown(row, details == "true") for row in chunk]
        body: dict[str, Any] = {
            "payload": {
                "granularity": {"granularityType": "Marketplace", "granularityId": marketplace_id},
                "inventorySummaries": summaries,
            }
        }
        if following is not None:
            now = self.clock()
            self.next_tokens = {k: v for k, v in self.next_tokens.items() if v.expires > now}
            token = secrets.token_urlsafe(24)
            self.next_tokens[token] = _Page(following, shape, now + self.next_token_ttl)
            body["pagination"] = {"nextToken": token}
        return Reply(200, body)

    @staticmethod
    def _updated(summary: Mapping[str, Any]) -> float:
        value = summary.get("lastUpdatedTime")
        if not isinstance(value, str) or not value:
            return 0.0
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()

    @staticmethod
    def _shown(summary: Mapping[str, Any], details: bool) -> dict[str, Any]:
        """A summary as served: ``inventoryDetails`` only when ``details=true`` (the model:
        "This object will not appear if the details parameter in the request is false")."""
        shown = dict(summary)
        if not details:
            shown.pop("inventoryDetails", None)
        return shown

    def expire_next_tokens(self) -> None:
        """Every nextToken handed out is past its 30 seconds."""
        now = self.clock()
        self.next_tokens = {k: _Page(v.start, v.query, now) for k, v in self.next_tokens.items()}
