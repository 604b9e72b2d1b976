"""Amazon FBA inventory as a warehouse system: what Amazon's fulfilment centres hold.

``amazon_fba`` reports stock only (``warehouse.stock_pull``): the FBA Inventory API v1
``getInventorySummaries`` (``GET /fba/inventory/v1/summaries``) with ``details=true``,
``granularityType=Marketplace``, ``granularityId`` and ``marketplaceIds`` the account's one
marketplace (the model allows a single id there), following ``pagination.nextToken`` until
an answer has none (Amazon's pages hold 50 summaries; a token lives 30 seconds, so pages
are read one after another). Inbound shipments (Fulfillment Inbound API) and multi-channel
orders are not offered.

A summary becomes a :class:`~crossdock.StockLine`: ``sellerSku`` → ``sku``,
``inventoryDetails.fulfillableQuantity`` → ``on_hand``,
``reservedQuantity.totalReservedQuantity`` → ``reserved``, ``inboundWorkingQuantity`` +
``inboundShippedQuantity`` + ``inboundReceivingQuantity`` → ``inbound``,
``unfulfillableQuantity.totalUnfulfillableQuantity`` → ``unsellable``. A figure Amazon
leaves out counts 0; a summary without ``inventoryDetails`` (what Amazon answers when
``details`` is false) has no figures at all and reports 0 of everything. Researching units
(misplaced, being confirmed) are none of the four.

The account (:class:`~crossdock.WarehouseAccount`):

- ``credentials``: the seller's Login with Amazon grant, as an Amazon connection holds it:
  ``refresh_token``, ``lwa_client_id``, ``lwa_client_secret``. The provider exchanges the
  refresh token for an access token itself (the core refreshes only connections' tokens)
  and keeps it in this process until a minute before it expires.
- ``settings``: ``marketplace_id`` (e.g. ``A1PA6795UKMFR9``) or ``site`` (one of the
  plugin's site codes, e.g. ``DE``); ``region`` (``na``, ``eu``, ``fe``) when the
  marketplace is not one of the plugin's sites; ``lwa_url`` for another token endpoint;
  ``timeout``.
- ``base_url``: the SP-API host (default: the marketplace's region's), and the token
  endpoint too unless ``lwa_url`` says otherwise (emulators answer both).

Errors: a refused grant (LWA ``invalid_grant`` / ``invalid_client``) or a 401/403 is a
permanent ``CREDENTIALS`` (a 403 saying the access token expired is tried once again with a
new one first); any other 4xx a permanent ``REFUSED`` with Amazon's message; 429 (with
``Retry-After``), 5xx, timeouts and transport errors are retryable, as
:mod:`crossdock_amazon.client` maps them. Requests are paced at the documented usage plan,
2 per second with a burst of 2, per seller and marketplace in this process.

Source: ``amzn/selling-partner-api-models`` ``models/fba-inventory-api-model/fbaInventory.json``
(parameters, ``InventoryDetails``, ``Pagination``, ``ErrorList``, usage plan); see the README.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

from crossdock import (
    ChannelError,
    RateLimit,
    StockLine,
    URLNotAllowed,
    UserError,
    WarehouseAccount,
    WarehouseBase,
    WarehouseCapability,
)
from crossdock_amazon import __version__
from crossdock_amazon.client import LWA_HOST, AccessDenied, SpApiClient, lwa_token
from crossdock_amazon.marketplace import EARLY_REFRESH, REGION_HOSTS, SITE_REGION, SITES

__all__ = ["OPERATION", "PAGE_SIZE", "PATH", "RATE_LIMIT", "AmazonFbaInventory", "stock_line"]

PATH = "/fba/inventory/v1/summaries"
OPERATION = "getInventorySummaries"
#: fbaInventory.json usage plan of getInventorySummaries
RATE_LIMIT = RateLimit(rate=2, burst=2)
#: summaries per page Amazon answers (not a parameter: the emulator pages as Amazon does)
PAGE_SIZE = 50
#: how many pages one pull follows before it gives up (a token that never ends)
MAX_PAGES = 10_000
#: access tokens and rate buckets kept per process
REMEMBERED = 1_000
#: what a 401/403 from SP-API or a refusal from LWA is coded when it reaches the core
CREDENTIAL_CODES = frozenset({ChannelError.AUTH_EXPIRED, AccessDenied.UNAUTHORIZED, AccessDenied.FORBIDDEN})
LWA_REFUSALS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "invalid_request"})


def _count(value: Any) -> int:
    """A quantity Amazon reports; absent or not a number counts 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value.is_integer():
        return max(int(value), 0)
    return 0


def stock_line(summary: Mapping[str, Any]) -> StockLine | None:
    """One ``InventorySummary`` as a stock line; None for one without a ``sellerSku``."""
    sku = summary.get("sellerSku")
    if not isinstance(sku, str) or not sku:
        return None
    details = summary.get("inventoryDetails")
    if not isinstance(details, Mapping):
        return StockLine(sku, 0)

    def total(name: str, field: str) -> int:
        part = details.get(name)
        return _count(part.get(field)) if isinstance(part, Mapping) else 0

    return StockLine(
        sku=sku,
        on_hand=_count(details.get("fulfillableQuantity")),
        reserved=total("reservedQuantity", "totalReservedQuantity"),
        inbound=sum(
            _count(details.get(name))
            for name in ("inboundWorkingQuantity", "inboundShippedQuantity", "inboundReceivingQuantity")
        ),
        unsellable=total("unfulfillableQuantity", "totalUnfulfillableQuantity"),
    )


class _Bucket:
    """A token bucket: ``rate`` requests per second, up to ``burst`` at once."""

    def __init__(self, limit: RateLimit) -> None:
        self.rate = float(limit.rate)
        self.burst = float(limit.burst)
        self.tokens = self.burst
        self.at = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self) -> None:
        async with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens < 1:
                await asyncio.sleep((1 - self.tokens) / self.rate)
                self.tokens = 1.0
                self.at = time.monotonic()
            self.tokens -= 1


def _remember(memo: dict[str, Any], key: str, value: Any) -> None:
    memo.pop(key, None)
    memo[key] = value
    while len(memo) > REMEMBERED:
        memo.pop(next(iter(memo)))


class AmazonFbaInventory(WarehouseBase):
    name = "amazon_fba"
    display_name = "Amazon FBA inventory"
    version = __version__
    capabilities = frozenset({WarehouseCapability.STOCK_PULL})
    rate_limit = RATE_LIMIT

    def __init__(self) -> None:
        #: grant -> (access token, its expiry in epoch seconds)
        self._tokens: dict[str, tuple[str, float]] = {}
        #: (grant, marketplace) -> its getInventorySummaries bucket
        self._buckets: dict[str, _Bucket] = {}

    # ------------------------------------------------------------ the account

    @staticmethod
    def marketplace_id(account: WarehouseAccount) -> str:
        """``settings.marketplace_id``, else the marketplace of ``settings.site``."""
        settings = account.settings
        explicit = settings.get("marketplace_id")
        if isinstance(explicit, str) and explicit.strip():
            return explicit.strip()
        site = settings.get("site")
        if isinstance(site, str):
            found = next((s.external_id for s in SITES if s.code == site.strip().upper()), None)
            if found:
                return found
            raise ChannelError(
                f"amazon_fba settings.site {site!r} is not one of {', '.join(s.code for s in SITES)}",
                code="SETTINGS",
            )
        raise ChannelError(
            "amazon_fba needs settings.marketplace_id (or settings.site) of the FBA marketplace",
            code="SETTINGS",
        )

    @staticmethod
    def _base_url(account: WarehouseAccount, marketplace_id: str) -> str:
        if account.base_url:
            return account.base_url
        region = account.settings.get("region")
        if not region:
            site = next((s.code for s in SITES if s.external_id == marketplace_id), None)
            region = SITE_REGION.get(site or "")
        if region not in REGION_HOSTS:
            raise ChannelError(
                f"amazon_fba: set settings.region ({', '.join(REGION_HOSTS)}) "
                f"for marketplace {marketplace_id}",
                code="SETTINGS",
            )
        return REGION_HOSTS[str(region)]

    @staticmethod
    def _lwa_url(account: WarehouseAccount) -> str:
        return str(account.settings.get("lwa_url") or account.base_url or LWA_HOST)

    @staticmethod
    def _checked(account: WarehouseAccount, url: str, field: str) -> str:
        """The URL, or ``URL_NOT_ALLOWED`` before any request is made to it."""
        try:
            return account.outbound().policy.check_url(url, field=field)
        except UserError as exc:
            raise URLNotAllowed(f"amazon_fba {field}: {exc.message}") from None

    @staticmethod
    def _grant(account: WarehouseAccount) -> dict[str, str]:
        creds = account.credentials
        missing = [k for k in ("refresh_token", "lwa_client_id", "lwa_client_secret") if not creds.get(k)]
        if missing:
            raise ChannelError(f"amazon_fba credentials lack {', '.join(missing)}", code="CREDENTIALS")
        return {
            "grant_type": "refresh_token",
            "refresh_token": str(creds["refresh_token"]),
            "client_id": str(creds["lwa_client_id"]),
            "client_secret": str(creds["lwa_client_secret"]),
        }

    @staticmethod
    def _key(grant: Mapping[str, str], lwa: str) -> str:
        raw = "\0".join((lwa, grant["client_id"], grant["client_secret"], grant["refresh_token"]))
        return hashlib.sha256(raw.encode()).hexdigest()

    async def _access_token(self, account: WarehouseAccount, lwa: str, *, fresh: bool = False) -> str:
        grant = self._grant(account)
        key = self._key(grant, lwa)
        cached = self._tokens.get(key)
        if cached and not fresh and cached[1] > time.time() + EARLY_REFRESH:
            return cached[0]
        try:
            answer = await lwa_token(account.http_client(), lwa, grant)
        except ChannelError as exc:
            if exc.retryable or exc.code == URLNotAllowed.code:
                raise
            if exc.code in LWA_REFUSALS or exc.code in CREDENTIAL_CODES:
                raise ChannelError(f"amazon_fba: {exc.message}", code="CREDENTIALS") from exc
            raise ChannelError(f"amazon_fba: {exc.message}", code="REFUSED") from exc
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise ChannelError("amazon LWA answered no access_token", code="MALFORMED", retryable=True)
        try:
            lifetime = float(answer.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        _remember(self._tokens, key, (token, time.time() + lifetime))
        return token

    def _bucket(self, account: WarehouseAccount, lwa: str, marketplace_id: str) -> _Bucket:
        key = f"{self._key(self._grant(account), lwa)}:{marketplace_id}"
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.rate_limit)
            _remember(self._buckets, key, bucket)
        return bucket

    # ------------------------------------------------------------ the API

    async def _get(self, api: SpApiClient, bucket: _Bucket, params: Mapping[str, str]) -> Any:
        """One page; an SP-API error as the warehouse contract codes it (``AUTH_EXPIRED``
        left for :meth:`pull_stock` to refresh once)."""
        await bucket.take()
        try:
            return await api.call("GET", PATH, params=params)
        except ChannelError as exc:
            if exc.retryable or exc.code in (URLNotAllowed.code, ChannelError.AUTH_EXPIRED):
                raise
            if exc.code in CREDENTIAL_CODES:
                raise ChannelError(exc.message, code="CREDENTIALS") from exc
            raise ChannelError(exc.message, code="REFUSED") from exc

    async def pull_stock(self, account: WarehouseAccount) -> Sequence[StockLine]:
        marketplace_id = self.marketplace_id(account)
        base = self._checked(account, self._base_url(account, marketplace_id), "base_url")
        lwa = self._checked(account, self._lwa_url(account), "lwa_url")
        bucket = self._bucket(account, lwa, marketplace_id)
        api = SpApiClient(base, await self._access_token(account, lwa), account.http_client())
        query = {
            "details": "true",
            "granularityType": "Marketplace",
            "granularityId": marketplace_id,
            "marketplaceIds": marketplace_id,
        }
        lines: dict[str, StockLine] = {}
        next_token: str | None = None
        refreshed = False
        for _ in range(MAX_PAGES):
            params = {**query, "nextToken": next_token} if next_token else query
            try:
                answer = await self._get(api, bucket, params)
            except ChannelError as exc:
                if exc.code != ChannelError.AUTH_EXPIRED:
                    raise
                if refreshed:
                    raise ChannelError(exc.message, code="CREDENTIALS") from exc
                # the token this process kept was revoked or expired early: one new one
                refreshed = True
                api.access_token = await self._access_token(account, lwa, fresh=True)
                continue
            if not isinstance(answer, Mapping):
                raise ChannelError(f"amazon {PATH} answered no object", code="MALFORMED", retryable=True)
            payload = answer.get("payload")
            summaries = payload.get("inventorySummaries") if isinstance(payload, Mapping) else None
            if not isinstance(summaries, list):
                raise ChannelError(
                    f"amazon {PATH} answered no payload.inventorySummaries", code="MALFORMED", retryable=True
                )
            for summary in summaries:
                line = stock_line(summary) if isinstance(summary, Mapping) else None
                if line is not None:
                    lines[line.sku] = line  # a page served again says the same of its SKUs
            pagination = answer.get("pagination")
            token = pagination.get("nextToken") if isinstance(pagination, Mapping) else None
            next_token = token if isinstance(token, str) and token else None
            if next_token is None:
                return list(lines.values())
        raise ChannelError(f"amazon {PATH}: more than {MAX_PAGES} pages", code="MALFORMED")
