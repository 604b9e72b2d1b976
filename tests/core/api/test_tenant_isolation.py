"""Two tenants: what A creates, B can neither see nor change, through every top-level field.

The tests read the schema's root fields by introspection and fail when a new field has no
isolation check here, so the walk cannot silently fall behind the API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crossdock import StockLine, WarehouseAccount, WarehouseBase, WarehouseCapability, hookimpl


class _Shelf(WarehouseBase):
    """A warehouse system to connect A's warehouse to (never called: the walk reads and
    refuses, it does not sync)."""

    name = "shelf"
    display_name = "Shelf"
    version = "1.0"
    capabilities = frozenset({WarehouseCapability.STOCK_PULL})

    async def pull_stock(self, account: WarehouseAccount) -> list[StockLine]:
        return []


class _ShelfPlugin:
    @hookimpl
    def crossdock_warehouses(self) -> list[_Shelf]:
        return [_Shelf()]


@pytest.fixture
def extra_plugins(testmarket: Any) -> list[tuple[str, object]]:
    return [("testmarket", testmarket), ("shelf", _ShelfPlugin())]


async def _unthrottled(app: Any, *tenants: Any) -> None:
    from crossdock.db.models import Tenant

    async with app.db.write(system=True) as session:
        for tenant in tenants:
            row = await session.scalar(select(Tenant).where(Tenant.id == tenant.id))
            row.settings = {**row.settings, "api": {"cost_bucket": 10**9, "cost_restore_rate": 10**6}}


async def _root_fields(api: Any, key: str, root: str) -> set[str]:
    data = await api.data("{ __schema { %s { fields { name } } } }" % root, key=key)
    return {f["name"] for f in data["__schema"][root]["fields"]}


async def _seed(api: Any, app: Any, tenant: Any, market: Any) -> dict[str, Any]:
    """Everything a tenant can own, created through the API (orders through ingestion)."""
    key = tenant.key

    async def m(query: str, variables: dict[str, Any] | None = None) -> Any:
        data = await api.data(query, variables, key=key)
        [payload] = data.values()
        assert not payload.get("userErrors"), payload
        return payload

    product = (
        await m(
            'mutation { productCreate(input: {title: "Secret tent", variants: [{sku: "SKU-1"}]}) '
            "{ product { id variants { id } } userErrors { code } } }"
        )
    )["product"]
    variant = product["variants"][0]["id"]
    wh = (
        await m(
            'mutation { warehouseCreate(input: {code: "A1", name: "A", country: "SG"}) { warehouse { id } userErrors { code } } }'
        )
    )["warehouse"]["id"]
    wh2 = (
        await m(
            'mutation { warehouseCreate(input: {code: "A2", name: "B", country: "SG"}) { warehouse { id } userErrors { code } } }'
        )
    )["warehouse"]["id"]
    level = (
        await m(
            "mutation($v: ID!, $w: ID!) { stockReceive(input: {variantId: $v, warehouseId: $w, quantity: 9}) "
            "{ stockLevel { id } userErrors { code } } }",
            {"v": variant, "w": wh},
        )
    )["stockLevel"]["id"]
    conn = (
        await m(
            'mutation { connectionCreate(input: {channel: "testmarket", name: "A-SG", site: "SG", '
            'credentials: {refresh_token: "s3cret"}}) { connection { id } userErrors { code } } }'
        )
    )["connection"]["id"]
    listing = (
        await m(
            'mutation($c: ID!, $v: ID!) { listingCreate(input: {connectionId: $c, variantId: $v, channelSku: "A-1"}) '
            "{ listing { id } userErrors { code } } }",
            {"c": conn, "v": variant},
        )
    )["listing"]["id"]
    transfer = (
        await m(
            "mutation($v: ID!, $a: ID!, $b: ID!) { stockTransferStart(input: {variantId: $v, fromWarehouseId: $a, "
            "toWarehouseId: $b, quantity: 1}) { transfer { id } userErrors { code } } }",
            {"v": variant, "a": wh, "b": wh2},
        )
    )["transfer"]["id"]

    from crossdock.db.models import Connection
    from crossdock.services.orders import ingest_orders

    soon = datetime.now(UTC) + timedelta(hours=2)
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        session = uow.session
        row = await session.scalar(select(Connection))
        await ingest_orders(
            uow,
            row,
            [
                market.add_order("A-ORDER", quantity=2, total="20.00", ship_by=soon),
                market.add_order("A-LATE", ship_by=datetime.now(UTC) - timedelta(hours=1), buyer="z"),
            ],
        )
    orders = await api.data('{ orders(filter: {search: "A-ORDER"}) { nodes { id lines { id } } } }', key=key)
    order = orders["orders"]["nodes"][0]
    shipment = (
        await m(
            'mutation($o: ID!, $w: ID!) { shipmentPack(input: {orderId: $o, warehouseId: $w, carrier: "DHL", '
            'trackingNumber: "T1"}) { shipment { id } userErrors { code } } }',
            {"o": order["id"], "w": wh},
        )
    )["shipment"]["id"]
    market.buyer_writes("A-THREAD", "Is my tent waterproof?", order="A-ORDER")
    from crossdock.jobs import JOBS

    await JOBS["sync_messages"](app.job_context(), tenant_id=tenant.id, connection_id=row.id)
    conversation = (await api.data("{ conversations { nodes { id } } }", key=key))["conversations"]["nodes"][
        0
    ]
    canned = (
        await m(
            'mutation { cannedReplySet(input: {name: "thanks", language: "en", body: "Thank you!"}) '
            "{ cannedReply { id } userErrors { code } } }"
        )
    )["cannedReply"]["id"]
    await m(
        'mutation($l: ID!) { priceRuleSet(input: {listingId: $l, targetMargin: "0.2"}) { userErrors { code } } }',
        {"l": listing},
    )
    promotion = (
        await m(
            'mutation($c: ID!) { promotionCreate(input: {name: "A sale", kind: PERCENT, value: "10", '
            'startsAt: "2026-01-01T00:00:00", endsAt: "2036-01-01T00:00:00", connectionId: $c}) '
            "{ promotion { id } userErrors { code } } }",
            {"c": conn},
        )
    )["promotion"]["id"]
    from crossdock import ChannelSettlement, Money, SettlementLine
    from crossdock.services.settlements import ingest_settlements

    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        row = await session.scalar(select(Connection))
        payout = ChannelSettlement(
            external_id="A-PAYOUT",
            opened_at=datetime.now(UTC),
            total=Money.of("20.00", "SGD"),
            lines=[SettlementLine("sale", Money.of("20.00", "SGD"), "A-ORDER")],
        )
        await ingest_settlements(session, row, [payout])
    payouts = await api.data("{ settlements { nodes { id } } }", key=key)
    settlement = payouts["settlements"]["nodes"][0]["id"]
    carrier = (
        await m(
            'mutation { carrierAccountCreate(input: {carrier: "dhl_express", name: "DHL", '
            'credentials: {api_key: "k", api_secret: "s", account_number: "123456789"}}) '
            "{ carrierAccount { id } userErrors { code } } }"
        )
    )["carrierAccount"]["id"]
    rule = (
        await m(
            'mutation($c: ID!) { routingRuleSet(input: {name: "All", services: [{carrierAccountId: $c}]}) '
            "{ routingRule { id } userErrors { code } } }",
            {"c": carrier},
        )
    )["routingRule"]["id"]
    from crossdock.db.models import Shipment as ShipmentRow
    from crossdock.services import tracking as tracking_service

    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        packed = await uow.session.scalar(select(ShipmentRow))
        assert packed is not None
        await tracking_service.raise_exception(uow, packed, "lost", "seeded")
    exception = (await api.data("{ shipmentExceptions { nodes { id } } }", key=key))["shipmentExceptions"][
        "nodes"
    ][0]["id"]
    notice_rule = (
        await m(
            'mutation { exceptionNoticeRuleSet(input: {kind: LOST, template: "lost"}) '
            "{ exceptionNoticeRule { id } userErrors { code } } }"
        )
    )["exceptionNoticeRule"]["id"]
    from crossdock import CaseKind
    from crossdock.services.cases import ingest_cases

    opened = market.buyer_asks(f"CASE-{tenant.slug}", "A-ORDER", CaseKind.RETURN_REFUND, refund="5.00")
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        row = await uow.session.scalar(select(Connection))
        from crossdock import CasePage

        await ingest_cases(uow, row, CasePage(cases=[opened]))
    case = (await api.data("{ cases { nodes { id } } }", key=key))["cases"]["nodes"][0]["id"]
    # figures: the orders' rollups, an advertised SKU's day, and a report made from them
    from crossdock import AdLevel, AdMetric, AdReportPage, Money
    from crossdock.jobs import JOBS
    from crossdock.services.ads import ingest_ads

    while await JOBS["analytics_refresh"](app.job_context(), tenant_id=tenant.id):
        pass
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        row = await uow.session.scalar(select(Connection))
        ad = AdMetric(
            AdLevel.PRODUCT, datetime.now(UTC).date(), "CMP", 10, 2, Money.of("1.00", "SGD"), sku="SKU-1"
        )
        await ingest_ads(uow.session, app.plugins, row, AdReportPage(metrics=[ad]))
    await m(
        'mutation { reportGenerate(input: {kind: DAILY, day: "%s"}) { report { id } userErrors { code } } }'
        % TODAY
    )
    # a webhook endpoint and one delivery to it (made, not sent: nothing listens there)
    hook = (
        await m(
            'mutation { webhookEndpointCreate(input: {url: "https://hooks.example.com/in", '
            "eventTypes: [STOCK_LOW]}) { endpoint { id } secret userErrors { code } } }"
        )
    )["endpoint"]["id"]
    from crossdock.api.schema.relay import decode_id
    from crossdock.services import outbound_webhooks
    from crossdock.services.events import emit

    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        emit(session, "stock.low", "Variant:1", sku="SKU-1")
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        await outbound_webhooks.fan_out(session, decode_id(hook)[1], now=datetime.now(UTC))
    delivery = (await api.data("{ webhookDeliveries { nodes { id } } }", key=key))["webhookDeliveries"][
        "nodes"
    ][0]["id"]
    # a bulk export (made, not run: its job is not driven here)
    bulk_export = (
        await m(
            "mutation($c: ID!) { bulkExportRun(input: {kind: ORDERS, orders: {connectionId: $c}}) "
            "{ bulkExport { id } userErrors { code } } }",
            {"c": conn},
        )
    )["bulkExport"]["id"]
    api_key = (
        await m(
            'mutation { apiKeyCreate(input: {name: "second", scopes: [ORDERS_READ]}) '
            "{ apiKey { id } secret userErrors { code } } }"
        )
    )["apiKey"]["id"]
    from crossdock.api.schema.relay import encode_id
    from crossdock.testing import make_staff

    staff = await make_staff(app, tenant, [("viewer", None)])
    role = (
        await m(
            'mutation { roleCreate(input: {name: "packer", scopes: [ORDERS_READ]}) '
            "{ role { id } userErrors { code } } }"
        )
    )["role"]["id"]
    supplier = (
        await m(
            'mutation { supplierCreate(input: {code: "SZ", name: "Shenzhen", currency: "USD"}) '
            "{ supplier { id } userErrors { code } } }"
        )
    )["supplier"]["id"]
    await m(
        "mutation($s: ID!, $v: ID!) { supplierItemSet(input: {supplierId: $s, variantId: $v, moq: 10, "
        'priceBreaks: [{minQuantity: 1, unitPrice: "2"}]}) { userErrors { code } } }',
        {"s": supplier, "v": variant},
    )
    assert await JOBS["replenishment_plan"](app.job_context(), tenant_id=tenant.id) >= 1
    plan = (await api.data("{ replenishmentPlans { nodes { id } } }", key=key))["replenishmentPlans"][
        "nodes"
    ][0]["id"]
    po = (
        await m(
            "mutation($s: ID!, $w: ID!, $v: ID!) { purchaseOrderCreate(input: {supplierId: $s, warehouseId: $w, "
            'lines: [{variantId: $v, quantity: 5, unitPrice: "2"}]}) '
            "{ purchaseOrder { id lines { id } } userErrors { code } } }",
            {"s": supplier, "w": wh, "v": variant},
        )
    )["purchaseOrder"]
    await m(
        'mutation($w: ID!) { warehouseConnect(input: {warehouseId: $w, provider: "shelf", credentials: {token: "t"}}) '
        "{ userErrors { code } } }",
        {"w": wh},
    )
    # sent to a warehouse a warehouse system runs: a delivery to announce
    delivery_id = (
        await m(
            "mutation($id: ID!) { purchaseOrderSend(input: {id: $id}) { purchaseOrder { delivery { id } } "
            "userErrors { code } } }",
            {"id": po["id"]},
        )
    )["purchaseOrder"]["delivery"]["id"]
    lane = (
        await m(
            "mutation($a: ID!, $b: ID!) { transitLaneSet(input: {fromWarehouseId: $a, toWarehouseId: $b, "
            "transitDays: 5}) { transitLane { id } userErrors { code } } }",
            {"a": wh, "b": wh2},
        )
    )["transitLane"]["id"]
    inbound_shipment = (
        await m(
            "mutation($a: ID!, $b: ID!, $v: ID!) { inboundShipmentCreate(input: {fromWarehouseId: $a, "
            "toWarehouseId: $b, lines: [{variantId: $v, quantity: 1}]}) "
            "{ inboundShipment { id lines { id } } userErrors { code } } }",
            {"a": wh, "b": wh2, "v": variant},
        )
    )["inboundShipment"]
    listing_content = (
        await m(
            'mutation($v: ID!, $c: ID!) { listingContentSave(input: {variantId: $v, connectionId: $c, language: "en", '
            'title: "Seed title", categoryId: "seed"}) { listingContent { id } userErrors { code } } }',
            {"v": variant, "c": conn},
        )
    )["listingContent"]["id"]
    # an order handed to the warehouse's system (as warehouse_fulfil records it), refused
    from crossdock.db.models import WarehouseOrder

    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        handover = WarehouseOrder(
            warehouse_id=decode_id(wh)[1],
            order_id=decode_id(order["id"])[1],
            reference=f"CD-{decode_id(order['id'])[1]:08d}",
            status="failed",
            last_error="REFUSED: no",
        )
        session.add(handover)
        await session.flush()
        handover_id = encode_id("WarehouseHandover", handover.id)
    idp = (
        await m(
            'mutation { identityProviderCreate(input: {name: "corp", issuer: "https://idp.example.com", '
            'clientId: "ops", clientSecret: "s3cret"}) { identityProvider { id } userErrors { code } } }'
        )
    )["identityProvider"]["id"]
    return {
        "supplier": supplier,
        "replenishment_plan": plan,
        "purchase_order": po["id"],
        "purchase_order_line": po["lines"][0]["id"],
        "warehouse_delivery": delivery_id,
        "warehouse_handover": handover_id,
        "listing_content": listing_content,
        "transit_lane": lane,
        "inbound_shipment": inbound_shipment["id"],
        "inbound_shipment_line": inbound_shipment["lines"][0]["id"],
        "identity_provider": idp,
        "user": encode_id("User", staff.user_id),
        "user_session": encode_id("UserSession", staff.session_id),
        "role": role,
        "api_key": api_key,
        "bulk_export": bulk_export,
        "webhook_endpoint": hook,
        "webhook_delivery": delivery,
        "case": case,
        "exception": exception,
        "notice_rule": notice_rule,
        "carrier": carrier,
        "rule": rule,
        "settlement": settlement,
        "promotion": promotion,
        "conversation": conversation["id"],
        "canned": canned,
        "product": product["id"],
        "variant": variant,
        "warehouse": wh,
        "warehouse2": wh2,
        "level": level,
        "connection": conn,
        "listing": listing,
        "transfer": transfer,
        "order": order["id"],
        "line": order["lines"][0]["id"],
        "shipment": shipment,
    }


TODAY = datetime.now(UTC).date().isoformat()
PERIOD = '{from: "%s", to: "%s"}' % (
    (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
    (datetime.now(UTC) + timedelta(days=1)).date().isoformat(),
)
LISTS = {
    "products": "products { nodes { id } }",
    "variants": "variants { nodes { id } }",
    "warehouses": "warehouses { nodes { id } }",
    "stockLevels": "stockLevels { nodes { id } }",
    "connections": "connections { nodes { id } }",
    "listings": "listings { nodes { id } }",
    "transfers": "transfers { nodes { id } }",
    "orders": "orders { nodes { id } }",
    "events": "events { nodes { id } }",
    "conversations": "conversations { nodes { id } }",
    "cannedReplies": "cannedReplies { id }",
    "promotions": "promotions { nodes { id } }",
    "settlements": "settlements { nodes { id } }",
    "reconciliation": "reconciliation(onlyProblems: false) { order { id } }",
    "carrierAccounts": "carrierAccounts { id }",
    "routingRules": "routingRules { id }",
    "shipmentExceptions": "shipmentExceptions { nodes { id } }",
    "exceptionNoticeRules": "exceptionNoticeRules { id }",
    "cases": "cases { nodes { id } }",
    "reports": "reports { id }",
    "profit": "profit(filter: %s, groupBy: [SKU]) { rows { sku } }" % PERIOD,
    "profitLines": "profitLines(filter: %s) { lines { id } }" % PERIOD,
    "kpis": "kpis(filter: %s) { stock { sku } }" % PERIOD,
    "adPerformance": "adPerformance(filter: %s) { spend { amount } }" % PERIOD,
    "analyticsSeries": "analyticsSeries(metric: UNITS, filter: %s) { value }" % PERIOD,
    "webhookEndpoints": "webhookEndpoints { nodes { id } }",
    "webhookDeliveries": "webhookDeliveries { nodes { id } }",
    "auditLog": "auditLog { nodes { operation } }",
    "bulkExports": "bulkExports { nodes { id } }",
    # organization-wide, and each tenant_factory tenant is an organization of its own
    "users": "users { email }",
    "loginAttempts": "loginAttempts { email }",
    "identityProviders": "identityProviders { name }",
    "suppliers": "suppliers { nodes { id } }",
    "purchaseOrders": "purchaseOrders { nodes { id } }",
    "stockOnOrder": "stockOnOrder { quantity }",
    "replenishmentPlans": "replenishmentPlans { nodes { id } }",
    "warehouseAccounts": "warehouseAccounts { provider }",
    "transitLanes": "transitLanes { nodes { id } }",
    "inboundShipments": "inboundShipments { nodes { id } }",
    "warehouseDeliveries": "warehouseDeliveries { nodes { id } }",
    "warehouseHandovers": "warehouseHandovers { nodes { id } }",
    "listingContents": "listingContents { nodes { id } }",
}
#: Root fields showing the caller's own latest object: A's is there, B's is null.
OWN_LATEST = {"currentBulkExport": "currentBulkExport { id status }"}
#: Root fields of the caller's own figures: A's count what A did, B's are zero.
OWN_FIGURES = {"usage": ('usage(month: "%s") { ordersIngested }' % TODAY[:7], "ordersIngested")}
#: Root fields that read reference data only (rates, the payment methods plugins offer).
NO_TENANT_DATA = {"fxConvert", "paymentMethods"}
#: Root fields reaching across the brands an API key reaches, checked for that reach in
#: their own tests (test_analytics_api.py: an agency's key sees its brands, no other's, and
#: test_usage_api.py its usage; test_access_api.py: a key sees the keys reaching no further
#: than itself, of its own organization only).
KEY_REACH = {"agencyReport", "agencyUsage", "apiKeys"}
#: The organization's roles (every one has the built-in four; test_users_api.py shows a
#: custom role is its own), and the signed-in user's own account (an API key has none).
ORG_AND_OWN = {"roles", "me", "mySessions"}
#: Root fields showing one object of the caller's own tenant: (query, mutation making A's
#: differ from a fresh tenant's, path to the value that differs).
OWN_OBJECT: dict[str, tuple[str, str, str]] = {
    "tenantSettings": (
        "{ tenantSettings { reportHour } }",
        "mutation { tenantSettingsUpdate(input: {reportHour: 9}) { userErrors { code } } }",
        "reportHour",
    ),
}

#: Query arguments naming one object to act on: (query, variable, seeded key).
POINTING_QUERIES: dict[str, tuple[str, str, str]] = {
    "channelCategories": ("query($c: ID!) { channelCategories(connectionId: $c) { id } }", "c", "connection"),
    "channelCategoryRules": (
        'query($c: ID!) { channelCategoryRules(connectionId: $c, categoryId: "x") { categoryId } }',
        "c",
        "connection",
    ),
    "listingContentCheck": (
        "query($i: ID!) { listingContentCheck(id: $i) { code } }",
        "i",
        "listing_content",
    ),
    "listingContentDiff": ("query($i: ID!) { listingContentDiff(id: $i) { known } }", "i", "listing_content"),
    "pickList": ("query($w: ID!) { pickList(warehouseId: $w) { sku quantity } }", "w", "warehouse"),
    "labelBatch": ("query($w: ID) { labelBatch(warehouseId: $w, format: PDF) { url } }", "w", "warehouse"),
    "priceBreakdowns": ("query($v: ID!) { priceBreakdowns(variantId: $v) { listingId } }", "v", "variant"),
    "shipmentRates": ("query($s: ID!) { shipmentRates(shipmentId: $s) { rule } }", "s", "shipment"),
    "orderRates": (
        # the order is resolved first: a warehouse of its own tenant is never reached
        'query($o: ID!) { orderRates(orderId: $o, warehouseId: "V2FyZWhvdXNlOjE") { rule } }',
        "o",
        "order",
    ),
    "promotionQuote": (
        "query($l: ID!) { promotionQuote(lines: [{listingId: $l, quantity: 1}]) { total { amount } } }",
        "l",
        "listing",
    ),
    # a shop named in an analytics filter must be the caller's (NOT_FOUND otherwise)
    **{
        name: (
            'query($x: ID!) { %s(%sfilter: {from: "%s", to: "%s", connectionIds: [$x]}) { __typename } }'
            % (name, extra, TODAY, TODAY),
            "x",
            "connection",
        )
        for name, extra in (
            ("profit", ""),
            ("kpis", ""),
            ("adPerformance", ""),
            ("analyticsSeries", "metric: UNITS, "),
        )
    },
    "profitLines": (
        'query($o: ID!) { profitLines(orderId: $o, filter: {from: "%s", to: "%s"}) { __typename } }'
        % (TODAY, TODAY),
        "o",
        "order",
    ),
    "bulkExport": ("query($x: ID!) { bulkExport(id: $x) { id } }", "x", "bulk_export"),
    "userSessions": ("query($x: ID!) { userSessions(userId: $x) { id } }", "x", "user"),
    "stockOnOrder": ("query($x: ID) { stockOnOrder(variantId: $x) { quantity } }", "x", "variant"),
}
#: Query arguments that filter a list.
FILTER_QUERIES: dict[str, tuple[str, str, str]] = {
    "variants": ("query($x: ID) { variants(filter: {productId: $x}) { nodes { id } } }", "x", "product"),
    "stockLevels": (
        "query($x: ID) { stockLevels(filter: {variantId: $x}) { nodes { id } } }",
        "x",
        "variant",
    ),
    "transfers": ("query($x: ID) { transfers(filter: {variantId: $x}) { nodes { id } } }", "x", "variant"),
    "listings": (
        "query($x: ID) { listings(filter: {connectionId: $x}) { nodes { id } } }",
        "x",
        "connection",
    ),
    "orders": ("query($x: ID) { orders(filter: {connectionId: $x}) { nodes { id } } }", "x", "connection"),
    "conversations": (
        "query($x: ID) { conversations(filter: {orderId: $x}) { nodes { id } } }",
        "x",
        "order",
    ),
    "settlements": (
        "query($x: ID) { settlements(filter: {connectionId: $x}) { nodes { id } } }",
        "x",
        "connection",
    ),
    "reconciliation": (
        "query($x: ID) { reconciliation(connectionId: $x, onlyProblems: false) { order { id } } }",
        "x",
        "connection",
    ),
    "shipmentExceptions": (
        "query($x: ID) { shipmentExceptions(filter: {orderId: $x}) { nodes { id } } }",
        "x",
        "order",
    ),
    "cases": ("query($x: ID) { cases(filter: {orderId: $x}) { nodes { id } } }", "x", "order"),
    "webhookDeliveries": (
        "query($x: ID) { webhookDeliveries(filter: {endpointId: $x}) { nodes { id } } }",
        "x",
        "webhook_endpoint",
    ),
    "replenishmentPlans": (
        "query($x: ID) { replenishmentPlans(filter: {warehouseId: $x}) { nodes { id } } }",
        "x",
        "warehouse",
    ),
    "purchaseOrders": (
        "query($x: ID) { purchaseOrders(filter: {supplierId: $x}) { nodes { id } } }",
        "x",
        "supplier",
    ),
    "inboundShipments": (
        "query($x: ID) { inboundShipments(filter: {fromWarehouseId: $x}) { nodes { id } } }",
        "x",
        "warehouse",
    ),
    "warehouseDeliveries": (
        "query($x: ID) { warehouseDeliveries(filter: {warehouseId: $x}) { nodes { id } } }",
        "x",
        "warehouse",
    ),
    "warehouseHandovers": (
        "query($x: ID) { warehouseHandovers(filter: {orderId: $x}) { nodes { id } } }",
        "x",
        "order",
    ),
    "listingContents": (
        "query($x: ID) { listingContents(filter: {variantId: $x}) { nodes { id } } }",
        "x",
        "variant",
    ),
    # entries about an object (it may be gone since: the ID only filters)
    "auditLog": (
        "query($x: ID) { auditLog(filter: {objectId: $x}) { nodes { operation } } }",
        "x",
        "product",
    ),
}
#: The argument path each of those checks; the other ID paths of a filter are listed too.
ARG_PATHS = {
    "pickList": "warehouseId",
    "labelBatch": "warehouseId",
    "priceBreakdowns": "variantId",
    "shipmentRates": "shipmentId",
    "orderRates": "orderId",
    "promotionQuote": "lines.0.listingId",
    "variants": "filter.productId",
    "stockLevels": "filter.variantId",
    "transfers": "filter.variantId",
    "listings": "filter.connectionId",
    "orders": "filter.connectionId",
    "conversations": "filter.orderId",
    "settlements": "filter.connectionId",
    "reconciliation": "connectionId",
    "shipmentExceptions": "filter.orderId",
    "cases": "filter.orderId",
    "auditLog": "filter.objectId",
    "profit": "filter.connectionIds.0",
    "kpis": "filter.connectionIds.0",
    "adPerformance": "filter.connectionIds.0",
    "analyticsSeries": "filter.connectionIds.0",
    "profitLines": "orderId",
    "webhookDeliveries": "filter.endpointId",
    "bulkExport": "id",
    "userSessions": "userId",
    "stockOnOrder": "variantId",
    "purchaseOrders": "filter.supplierId",
    "replenishmentPlans": "filter.warehouseId",
    "inboundShipments": "filter.fromWarehouseId",
    "warehouseDeliveries": "filter.warehouseId",
    "warehouseHandovers": "filter.orderId",
    "listingContents": "filter.variantId",
    "channelCategories": "connectionId",
    "channelCategoryRules": "connectionId",
    "listingContentCheck": "id",
    "listingContentDiff": "id",
}
#: Filter ID arguments filtered the same way as the one checked above for their list.
SAME_AS_CHECKED = {
    ("stockLevels", "filter.warehouseId"),
    ("listings", "filter.variantId"),
    ("conversations", "filter.connectionId"),
    # shipments named by another tenant: test_documents_api.py::test_label_batch_of_foreign_shipments
    ("labelBatch", "shipmentIds.0"),
    # resolved by the same resolve_id before anything is asked of a carrier
    ("shipmentRates", "carrierAccountId"),
    ("orderRates", "warehouseId"),
    ("cases", "filter.connectionId"),
    ("profitLines", "filter.connectionIds.0"),
    # an API key's entries: the tenant's own log only (test_audit_api.py filters by it)
    ("auditLog", "filter.actorId"),
    ("stockOnOrder", "warehouseId"),  # resolved as variantId is
    ("purchaseOrders", "filter.warehouseId"),
    ("replenishmentPlans", "filter.variantId"),
    ("inboundShipments", "filter.toWarehouseId"),
    ("warehouseHandovers", "filter.warehouseId"),
    ("listingContents", "filter.connectionId"),
}
#: ``*Id`` fields that hold another system's identifier (a string), not one of ours: a
#: marketplace's (a listing's id, a category's), and the OAuth client registered at an identity provider.
EXTERNAL = {"externalId", "clientId", "categoryId"}
#: An ID of the right type whose row does not exist (in the BIGINT range).
MISSING_PK = 9_000_000_000_000_000_000


def _type_of(gid: str) -> str:
    from crossdock.api.schema.relay import decode_id

    return decode_id(gid)[0]


def _missing(gid: str) -> str:
    from crossdock.api.schema.relay import encode_id

    return encode_id(_type_of(gid), MISSING_PK)


TYPE_QUERY = """query($name: String!) { __type(name: $name) { kind name inputFields { name type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }"""
ROOT_ARGS = """query { __schema { %s { fields { name args { name type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } }"""


def _unwrap(ref: dict[str, Any]) -> tuple[str, str, bool]:
    """(kind, name, is a list) of a possibly wrapped type reference."""
    listed = False
    while ref["kind"] in ("NON_NULL", "LIST"):
        listed = listed or ref["kind"] == "LIST"
        ref = ref["ofType"]
    return ref["kind"], ref["name"], listed


async def _id_paths(
    api: Any, key: str, name: str, kind: str, prefix: str, cache: dict[str, Any]
) -> list[str]:
    """Paths of every ID field under an argument (``lines.0.orderLineId``), by introspection.
    A field named ``*Id``/``*Ids`` must be an ``ID`` unless it is a marketplace's own."""
    if kind != "INPUT_OBJECT":
        return []
    if name not in cache:
        cache[name] = (await api.data(TYPE_QUERY, {"name": name}, key=key))["__type"]["inputFields"]
    found: list[str] = []
    for f in cache[name]:
        f_kind, f_name, listed = _unwrap(f["type"])
        path = f"{prefix}{f['name']}{'.0' if listed else ''}"
        if f_kind == "INPUT_OBJECT":
            found += await _id_paths(api, key, f_name, f_kind, path + ".", cache)
        elif f_name == "ID":
            found.append(path)
        elif f["name"].endswith(("Id", "Ids")):
            assert f["name"] in EXTERNAL, f"{name}.{f['name']} names an object but is not an ID"
    return found


async def _id_arguments(api: Any, key: str, root: str) -> dict[str, list[str]]:
    """Root field -> the paths of its ID arguments (``input.`` left out of mutations')."""
    fields = (await api.data(ROOT_ARGS % root, key=key))["__schema"][root]["fields"]
    cache: dict[str, Any] = {}
    found: dict[str, list[str]] = {}
    for field in fields:
        paths: list[str] = []
        for arg in field["args"]:
            a_kind, a_name, listed = _unwrap(arg["type"])
            prefix = "" if arg["name"] == "input" else f"{arg['name']}{'.0' if listed else ''}."
            if a_name == "ID":
                paths.append(prefix.rstrip("."))
            else:
                paths += await _id_paths(api, key, a_name, a_kind, prefix, cache)
        if paths:
            found[field["name"]] = paths
    return found


async def test_every_top_level_query_is_scoped(
    api: Any, app: Any, tenant_factory: Any, testmarket: Any
) -> None:
    a = await tenant_factory()
    b = await tenant_factory()
    seeded = await _seed(api, app, a, testmarket.market)

    names = await _root_fields(api, a.key, "queryType")
    covered = (
        set(LISTS)
        | NO_TENANT_DATA
        | KEY_REACH
        | ORG_AND_OWN
        | set(OWN_OBJECT)
        | set(OWN_LATEST)
        | set(OWN_FIGURES)
        | {"node", "viewer", "plugins"}
        | set(POINTING_QUERIES)
    )
    assert names <= covered, f"new top-level fields need an isolation check: {names - covered}"

    # the caller's own object: A's change is A's alone
    for name, (query, change, value) in OWN_OBJECT.items():
        fresh = (await api.data(query, key=b.key))[name][value]
        await api.data(change, key=a.key)
        assert (await api.data(query, key=a.key))[name][value] != fresh, name
        assert (await api.data(query, key=b.key))[name][value] == fresh, name

    for name, selection in OWN_LATEST.items():
        assert (await api.data("{ %s }" % selection, key=a.key))[name], f"A should see its own {name}"
        assert (await api.data("{ %s }" % selection, key=b.key))[name] is None, name
    for name, (selection, value) in OWN_FIGURES.items():
        assert (await api.data("{ %s }" % selection, key=a.key))[name][value] > 0, name
        assert (await api.data("{ %s }" % selection, key=b.key))[name][value] == 0, name

    def items(data: Any) -> list[Any]:
        if isinstance(data, dict):
            return next(data[k] for k in ("nodes", "rows", "lines", "stock") if k in data)
        # a series has a point for every day: what counts is a point with something in it
        return [
            d for d in data if not (isinstance(d, dict) and set(d) == {"value"} and float(d["value"]) == 0)
        ]

    for name, selection in LISTS.items():
        assert items((await api.data("{ %s }" % selection, key=a.key))[name]), f"A should see its own {name}"
        assert items((await api.data("{ %s }" % selection, key=b.key))[name]) == [], name

    # an ID argument that names the object to act on: another tenant's and a missing one
    # are the same NOT_FOUND; an ID in a filter only filters (nothing of A's matches for B)
    for name, (query, var, kind) in POINTING_QUERIES.items():
        for gid in (seeded[kind], _missing(seeded[kind])):
            answer = (await api.raw(query, {var: gid}, key=b.key)).json()
            assert answer["data"] is None, (name, answer)
            error = answer["errors"][0]
            assert error["extensions"]["code"] == "NOT_FOUND", (name, error)
            assert error["message"] == f"{_type_of(gid)} {gid} not found", (name, error)
    for name, (query, var, kind) in FILTER_QUERIES.items():
        for gid in (seeded[kind], _missing(seeded[kind])):
            found = (await api.data(query, {var: gid}, key=b.key))[name]
            assert items(found) == [], (name, found)
        assert items((await api.data(query, {var: seeded[kind]}, key=a.key))[name]), (
            f"A filters its own {name}"
        )

    arguments = await _id_arguments(api, a.key, "queryType")
    classified = {(n, ARG_PATHS[n]) for n in {**POINTING_QUERIES, **FILTER_QUERIES}} | SAME_AS_CHECKED
    unclassified = {(n, p) for n, paths in arguments.items() for p in paths} - classified - {("node", "id")}
    assert not unclassified, f"ID arguments of queries need an isolation check: {sorted(unclassified)}"

    node = "query($id: ID!) { node(id: $id) { id } }"
    for kind in (
        "product",
        "variant",
        "warehouse",
        "level",
        "connection",
        "listing",
        "transfer",
        "order",
        "shipment",
        "conversation",
        "canned",
        "promotion",
        "settlement",
        "carrier",
        "rule",
        "webhook_endpoint",
        "webhook_delivery",
        "bulk_export",
        "supplier",
        "purchase_order",
        "replenishment_plan",
        "transit_lane",
        "inbound_shipment",
        "warehouse_delivery",
        "warehouse_handover",
        "listing_content",
    ):
        gid = seeded[kind]
        assert (await api.data(node, {"id": gid}, key=b.key))["node"] is None, kind
        assert (await api.data(node, {"id": gid}, key=a.key))["node"] == {"id": gid}, kind
    assert (await api.data("{ viewer { tenantSlug } }", key=b.key))["viewer"]["tenantSlug"] == b.slug


#: A recent past time, for a backfill every check accepts.
RECENTLY = (datetime.now(UTC) - timedelta(days=1)).isoformat()
#: name: (input with a $variable for every ID, variable -> (seeded key, the ID's field path)).
#: Every ID field of every mutation's input is here (the test walks the schema to make sure).
MUTATIONS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "productUpdate": ('{id: $a, title: "pwned"}', {"a": ("product", "id")}),
    "variantCreate": ('{productId: $a, sku: "X-2"}', {"a": ("product", "productId")}),
    "variantUpdate": ('{id: $a, sku: "PWN"}', {"a": ("variant", "id")}),
    "warehouseCreate": (
        '{code: "X9", name: "x", country: "SG", kind: MARKETPLACE, connectionId: $a}',
        {"a": ("connection", "connectionId")},
    ),
    "warehouseUpdate": (
        '{id: $a, name: "pwned", connectionId: $b}',
        {"a": ("warehouse", "id"), "b": ("connection", "connectionId")},
    ),
    "connectionUpdate": ("{id: $a, status: PAUSED}", {"a": ("connection", "id")}),
    "stockReceive": (
        "{variantId: $a, warehouseId: $b, quantity: 100}",
        {"a": ("variant", "variantId"), "b": ("warehouse", "warehouseId")},
    ),
    "stockAdjust": (
        '{variantId: $a, warehouseId: $b, delta: -5, note: "x"}',
        {"a": ("variant", "variantId"), "b": ("warehouse", "warehouseId")},
    ),
    "stockCount": (
        "{variantId: $a, warehouseId: $b, counted: 0}",
        {"a": ("variant", "variantId"), "b": ("warehouse", "warehouseId")},
    ),
    "stockWriteOff": (
        '{variantId: $a, warehouseId: $b, quantity: 1, note: "x"}',
        {"a": ("variant", "variantId"), "b": ("warehouse", "warehouseId")},
    ),
    "stockPolicySet": (
        "{variantId: $a, warehouseId: $b, safetyStock: 9}",
        {"a": ("variant", "variantId"), "b": ("warehouse", "warehouseId")},
    ),
    "stockTransferStart": (
        "{variantId: $a, fromWarehouseId: $b, toWarehouseId: $c, quantity: 1}",
        {
            "a": ("variant", "variantId"),
            "b": ("warehouse", "fromWarehouseId"),
            "c": ("warehouse2", "toWarehouseId"),
        },
    ),
    "stockTransferReceive": ("{id: $a}", {"a": ("transfer", "id")}),
    "stockTransferCancel": ("{id: $a}", {"a": ("transfer", "id")}),
    "listingCreate": (
        '{connectionId: $a, variantId: $b, channelSku: "B-1"}',
        {"a": ("connection", "connectionId"), "b": ("variant", "variantId")},
    ),
    "listingUpdate": ('{id: $a, channelSku: "pwned"}', {"a": ("listing", "id")}),
    "connectionBackfill": ('{id: $a, since: "%s"}' % RECENTLY, {"a": ("connection", "id")}),
    "connectionWarehousesSet": (
        "{connectionId: $a, warehouseIds: [$b]}",
        {"a": ("connection", "connectionId"), "b": ("warehouse", "warehouseIds.0")},
    ),
    "orderHold": ("{id: $a}", {"a": ("order", "id")}),
    "orderReleaseHold": ("{id: $a}", {"a": ("order", "id")}),
    "orderAllocate": ("{id: $a}", {"a": ("order", "id")}),
    "orderCancel": ('{id: $a, reason: "x"}', {"a": ("order", "id")}),
    "orderMarkDelivered": ("{id: $a}", {"a": ("order", "id")}),
    "pickListStart": ("{warehouseId: $a}", {"a": ("warehouse", "warehouseId")}),
    "shipmentPack": (
        '{orderId: $a, warehouseId: $b, carrier: "x", trackingNumber: "y"}',
        {"a": ("order", "orderId"), "b": ("warehouse", "warehouseId")},
    ),
    "shipmentShip": ("{id: $a}", {"a": ("shipment", "id")}),
    "returnReceive": (
        "{orderId: $a, warehouseId: $b, lines: [{orderLineId: $c, quantity: 1, condition: SELLABLE}]}",
        {"a": ("order", "orderId"), "b": ("warehouse", "warehouseId"), "c": ("line", "lines.0.orderLineId")},
    ),
    "refundRecord": ('{orderId: $a, amount: {amount: "1.00", currency: "SGD"}}', {"a": ("order", "orderId")}),
    "conversationReply": ('{conversationId: $a, text: "pwned"}', {"a": ("conversation", "conversationId")}),
    "conversationClose": ("{id: $a}", {"a": ("conversation", "id")}),
    "cannedReplyDelete": ("{id: $a}", {"a": ("canned", "id")}),
    "priceRuleSet": ('{listingId: $a, targetMargin: "0.5"}', {"a": ("listing", "listingId")}),
    "competitorPriceRecord": (
        '{listingId: $a, competitor: "x", price: {amount: "1", currency: "SGD"}}',
        {"a": ("listing", "listingId")},
    ),
    "priceApply": ("{listingIds: [$a]}", {"a": ("listing", "listingIds.0")}),
    "promotionCreate": (
        '{name: "x", kind: PERCENT, value: "50", startsAt: "2026-01-01T00:00:00", '
        'endsAt: "2036-01-01T00:00:00", connectionId: $a, listingIds: [$b]}',
        {"a": ("connection", "connectionId"), "b": ("listing", "listingIds.0")},
    ),
    "promotionCancel": ("{id: $a}", {"a": ("promotion", "id")}),
    "carrierAccountUpdate": ("{id: $a, status: DISABLED}", {"a": ("carrier", "id")}),
    "routingRuleSet": (
        '{id: $a, name: "pwned", services: [{carrierAccountId: $b}]}',
        {"a": ("rule", "id"), "b": ("carrier", "services.0.carrierAccountId")},
    ),
    "routingRuleDelete": ("{id: $a}", {"a": ("rule", "id")}),
    "shipmentBuyLabel": (
        "{shipmentId: $a, carrierAccountId: $b}",
        {"a": ("shipment", "shipmentId"), "b": ("carrier", "carrierAccountId")},
    ),
    "shipmentVoidLabel": ("{shipmentId: $a}", {"a": ("shipment", "shipmentId")}),
    "variantShippingSet": ('{id: $a, hsCode: "610910"}', {"a": ("variant", "id")}),
    "warehouseAddressSet": ('{id: $a, address: {line1: "x", city: "y"}}', {"a": ("warehouse", "id")}),
    "shipmentExceptionResolve": ("{id: $a}", {"a": ("exception", "id")}),
    "caseRespond": ("{caseId: $a, action: ACCEPT}", {"a": ("case", "caseId")}),
    "exceptionNoticeRuleSet": ('{id: $a, kind: LOST, template: "pwned"}', {"a": ("notice_rule", "id")}),
    "exceptionNoticeRuleDelete": ("{id: $a}", {"a": ("notice_rule", "id")}),
    "webhookEndpointUpdate": ('{id: $a, description: "pwned"}', {"a": ("webhook_endpoint", "id")}),
    "webhookEndpointEnable": ("{id: $a, skipMissed: true}", {"a": ("webhook_endpoint", "id")}),
    "webhookEndpointPause": ("{id: $a}", {"a": ("webhook_endpoint", "id")}),
    "webhookEndpointDelete": ("{id: $a}", {"a": ("webhook_endpoint", "id")}),
    "webhookEndpointRotateSecret": ("{id: $a}", {"a": ("webhook_endpoint", "id")}),
    "webhookRedeliver": (
        "{deliveryIds: [$a], endpointId: $b}",
        {"a": ("webhook_delivery", "deliveryIds.0"), "b": ("webhook_endpoint", "endpointId")},
    ),
    "apiKeyRevoke": ("{id: $a}", {"a": ("api_key", "id")}),
    "bulkExportCancel": ("{id: $a}", {"a": ("bulk_export", "id")}),
    "userRoleGrant": ('{userId: $a, role: "viewer"}', {"a": ("user", "userId")}),
    "userRoleRevoke": ('{userId: $a, role: "viewer"}', {"a": ("user", "userId")}),
    "userDisable": ("{id: $a}", {"a": ("user", "id")}),
    "userEnable": ("{id: $a}", {"a": ("user", "id")}),
    "userPasswordReset": ("{id: $a}", {"a": ("user", "id")}),
    "roleUpdate": ('{id: $a, description: "pwned"}', {"a": ("role", "id")}),
    "roleDelete": ("{id: $a}", {"a": ("role", "id")}),
    "sessionRevoke": ("{id: $a}", {"a": ("user_session", "id")}),
    "supplierUpdate": ('{id: $a, name: "pwned"}', {"a": ("supplier", "id")}),
    "supplierItemSet": (
        "{supplierId: $a, variantId: $b, moq: 99}",
        {"a": ("supplier", "supplierId"), "b": ("variant", "variantId")},
    ),
    "purchaseOrderCreate": (
        '{supplierId: $a, warehouseId: $b, lines: [{variantId: $c, quantity: 1, unitPrice: "1"}]}',
        {
            "a": ("supplier", "supplierId"),
            "b": ("warehouse", "warehouseId"),
            "c": ("variant", "lines.0.variantId"),
        },
    ),
    "purchaseOrderUpdate": (
        '{id: $a, notes: "pwned", lines: [{variantId: $b, quantity: 1, unitPrice: "1"}]}',
        {"a": ("purchase_order", "id"), "b": ("variant", "lines.0.variantId")},
    ),
    "purchaseOrderSend": ("{id: $a}", {"a": ("purchase_order", "id")}),
    "purchaseOrderReceive": (
        "{id: $a, lines: [{lineId: $b, quantity: 1}]}",
        {"a": ("purchase_order", "id"), "b": ("purchase_order_line", "lines.0.lineId")},
    ),
    "purchaseOrderClose": ("{id: $a}", {"a": ("purchase_order", "id")}),
    "purchaseOrderCancel": ("{id: $a}", {"a": ("purchase_order", "id")}),
    "purchaseOrderDraftsCreate": ("{warehouseId: $a}", {"a": ("warehouse", "warehouseId")}),
    "warehouseConnect": (
        '{warehouseId: $a, provider: "shelf", credentials: {token: "t"}}',
        {"a": ("warehouse", "warehouseId")},
    ),
    "warehouseSync": ("{warehouseId: $a}", {"a": ("warehouse", "warehouseId")}),
    "transitLaneSet": (
        "{fromWarehouseId: $a, toWarehouseId: $b, transitDays: 9}",
        {"a": ("warehouse", "fromWarehouseId"), "b": ("warehouse2", "toWarehouseId")},
    ),
    "transitLaneRemove": ("{id: $a}", {"a": ("transit_lane", "id")}),
    "inboundShipmentCreate": (
        "{fromWarehouseId: $a, toWarehouseId: $b, lines: [{variantId: $c, quantity: 1}]}",
        {
            "a": ("warehouse", "fromWarehouseId"),
            "b": ("warehouse2", "toWarehouseId"),
            "c": ("variant", "lines.0.variantId"),
        },
    ),
    "inboundShipmentReceive": (
        "{id: $a, lines: [{lineId: $b, quantity: 1}]}",
        {"a": ("inbound_shipment", "id"), "b": ("inbound_shipment_line", "lines.0.lineId")},
    ),
    "inboundShipmentCancel": ("{id: $a}", {"a": ("inbound_shipment", "id")}),
    "warehouseDeliveryAnnounce": ("{id: $a}", {"a": ("warehouse_delivery", "id")}),
    "warehouseFulfil": ("{warehouseId: $a}", {"a": ("warehouse", "warehouseId")}),
    "warehouseHandoverRetry": ("{id: $a}", {"a": ("warehouse_handover", "id")}),
    "listingContentSave": (
        '{variantId: $a, connectionId: $b, language: "en", title: "pwned"}',
        {"a": ("variant", "variantId"), "b": ("connection", "connectionId")},
    ),
    "listingContentReview": ("{id: $a}", {"a": ("listing_content", "id")}),
    "listingContentTranslate": (
        '{id: $a, targetLanguage: "de", connectionId: $b}',
        {"a": ("listing_content", "id"), "b": ("connection", "connectionId")},
    ),
    "listingPublish": (
        '{ids: [$a], productId: $b, targets: [{connectionId: $c, language: "en"}]}',
        {
            "a": ("listing_content", "ids.0"),
            "b": ("product", "productId"),
            "c": ("connection", "targets.0.connectionId"),
        },
    ),
    "listingDeactivate": ("{id: $a}", {"a": ("listing_content", "id")}),
    "competitorOffersRefresh": ("{listingId: $a}", {"a": ("listing", "listingId")}),
    "identityProviderUpdate": ('{id: $a, clientId: "pwned"}', {"a": ("identity_provider", "id")}),
    "identityProviderDelete": ("{id: $a}", {"a": ("identity_provider", "id")}),
    # every filter's ids are resolved before the kind is checked against the filters given
    "bulkExportRun": (
        "{kind: ORDERS, orders: {connectionId: $a}, stock: {warehouseId: $b, variantId: $c}, "
        "listings: {connectionId: $d, variantId: $e}}",
        {
            "a": ("connection", "orders.connectionId"),
            "b": ("warehouse", "stock.warehouseId"),
            "c": ("variant", "stock.variantId"),
            "d": ("connection", "listings.connectionId"),
            "e": ("variant", "listings.variantId"),
        },
    ),
}
#: Mutations that take no ID: they only ever create in (or change) the caller's own tenant
#: (``tenantSettingsUpdate``: OWN_OBJECT in the query walk shows A's change is A's alone).
CREATORS = {
    "productCreate",
    "connectionCreate",
    "cannedReplySet",
    "carrierAccountCreate",
    "reportGenerate",
    "tenantSettingsUpdate",
    # organization-level, checked in test_access_api.py: a key makes keys and tenants of its
    # own organization only, never beyond its own reach
    "apiKeyCreate",
    "tenantCreate",
    "webhookEndpointCreate",
    "supplierCreate",
    "replenishmentPlanRun",  # queues the caller's own tenant's planning job
    "listingImageUpload",  # stored under the caller's tenant; other tenants' keys are NOT_FOUND
    # staff and roles of the caller's own organization (test_users_api.py), and the
    # signed-in user's own account (an API key gets NOT_A_USER)
    "userInvite",
    "roleCreate",
    "identityProviderCreate",
    "passwordChange",
    "totpEnroll",
    "totpConfirm",
    "totpDisable",
}


async def _snapshot(api: Any, key: str, seeded: dict[str, Any]) -> Any:
    return await api.data(
        """query($p: ID!, $o: ID!) {
          p: node(id: $p) { ... on Product { title variants { sku stockLevels { onHand reserved safetyStock } } } }
          o: node(id: $o) { ... on Order { status holds { reason } shipments { status } refunds { amount { amount } } } }
          connections { nodes { status } }
          listings { nodes { channelSku } }
          transfers { nodes { status } }
          warehouses { nodes { name } }
          conversations { nodes { status messages { body } } }
          cannedReplies { body }
          promotions { nodes { name state } }
          shipmentExceptions { nodes { kind resolvedAt } }
          exceptionNoticeRules { template }
          webhookEndpoints { nodes { url description status } }
          webhookDeliveries { nodes { status nextAttemptAt attemptCount } }
          bulkExports { nodes { kind status } }
          users { email disabledAt roles { role { name } tenant } }
          roles { name description scopes }
          identityProviders { name clientId disabledAt }
          suppliers { nodes { name items { moq } } }
          purchaseOrders { nodes { status notes lines { quantity receivedQuantity } } }
          stockOnOrder { quantity }
          replenishmentPlans { nodes { reorderNow orderQuantity } }
          warehouseAccounts { provider status }
          transitLanes { nodes { transitDays } }
          inboundShipments { nodes { status lines { receivedQuantity } } }
          warehouseDeliveries { nodes { status attempts } }
          warehouseHandovers { nodes { status attempts lastError } }
          listingContents { nodes { title version publishStatus fieldStatus { status } } }
        }""",
        {"p": seeded["product"], "o": seeded["order"]},
        key=key,
    )


async def test_other_tenant_cannot_mutate(api: Any, app: Any, tenant_factory: Any, testmarket: Any) -> None:
    """Every ID field of every mutation, walked from the schema: B sends its own IDs
    everywhere but one, which is A's real ID, then an ID of the same type that exists
    nowhere. Both get the same NOT_FOUND on that field (same message but for the ID), and
    nothing changes in A or in B."""
    a = await tenant_factory()
    b = await tenant_factory()
    await _unthrottled(app, a, b)  # some 200 requests in a row
    seeded = await _seed(api, app, a, testmarket.market)
    own = await _seed(api, app, b, testmarket.market)
    before = (await _snapshot(api, a.key, seeded), await _snapshot(api, b.key, own))

    id_fields = await _id_arguments(api, a.key, "mutationType")
    for name in await _root_fields(api, a.key, "mutationType"):
        assert name in MUTATIONS or (name in CREATORS and name not in id_fields), (
            f"{name} needs a cross-tenant check"
        )
        if name in MUTATIONS:
            checked = sorted(path for _, path in MUTATIONS[name][1].values())
            assert checked == sorted(id_fields.get(name, [])), f"{name}: every ID field needs a check"

    checks = 0
    for name, (fields, variables) in MUTATIONS.items():
        declared = ", ".join(f"${v}: ID!" for v in variables)
        body = f"mutation({declared}) {{ {name}(input: {fields}) {{ userErrors {{ code field message }} }} }}"
        for var, (kind, path) in variables.items():
            shapes = set()
            for foreign in (seeded[kind], _missing(seeded[kind])):
                values = {v: own[k] for v, (k, _) in variables.items()} | {var: foreign}
                errors = (await api.data(body, values, key=b.key))[name]["userErrors"]
                assert errors and errors[0]["code"] == "NOT_FOUND", (name, path, errors)
                assert errors[0]["field"] == path.split("."), (name, path, errors)
                shapes.add(errors[0]["message"].replace(foreign, "<id>"))
                checks += 1
            assert len(shapes) == 1, (name, path, shapes)  # someone else's = missing, to the letter
    assert checks == 2 * sum(len(v) for _, v in MUTATIONS.values())

    assert (await _snapshot(api, a.key, seeded), await _snapshot(api, b.key, own)) == before
