"""The seller's ``ORDER_CHANGE`` notifications sent to the connection's SQS queue, set up
from the connection (Notifications API v1, ``notifications.json``), not by hand.

Before the plugin first reads a connection's queue (in each process), it makes sure:

1. the application has a destination for the queue's ARN: ``getDestinations``, and
   ``createDestination`` (``{name, resourceSpecification: {sqs: {arn}}}``) only when none
   names it. Both are grantless: the token comes from Login with Amazon's
   ``client_credentials`` grant with scope ``sellingpartnerapi::notifications``;
2. the seller has an ``ORDER_CHANGE`` subscription to it: ``getSubscription``, and
   ``createSubscription`` (``payloadVersion`` "1.0", as schemas/notifications/
   OrderChangeNotification.json has it, and a ``processingDirective`` event filter for
   order status changes and buyer-requested changes) only when there is none. These take
   the seller's own access token.

So running it again, or in two processes at once (a 409 ``Conflict`` means the other one
made it: it is read back), never makes a second destination or subscription. A seller
already subscribed to another destination is a permanent, named error: Amazon keeps one
subscription per notification type, and moving it is the seller's decision.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import httpx

from crossdock import ChannelConnection, ChannelError, with_retries
from crossdock_amazon.client import SpApiClient, lwa_token

__all__ = ["NOTIFICATIONS_SCOPE", "ORDER_CHANGE_FILTER", "NotificationSetup"]

NOTIFICATIONS_SCOPE = "sellingpartnerapi::notifications"
PAYLOAD_VERSION = "1.0"
#: notifications.json ``ProcessingDirective`` / ``EventFilter`` / ``OrderChangeTypeEnum``
ORDER_CHANGE_FILTER = {
    "eventFilter": {
        "eventFilterType": "ORDER_CHANGE",
        "orderChangeTypes": ["OrderStatusChange", "BuyerRequestedChange"],
    }
}
EARLY_REFRESH = 60


class NotificationSetup:
    """Idempotent destination and subscription set-up, remembered per process once done."""

    def __init__(self) -> None:
        self._done: set[tuple[int, str, str]] = set()

    async def ensure(
        self, conn: ChannelConnection, http: httpx.AsyncClient, queue_arn: str, base_url: str, lwa_url: str
    ) -> None:
        creds = conn.credentials
        key = (conn.id, str(creds.get("seller_id", "")), queue_arn)
        if key in self._done:
            return
        grantless = await lwa_token(
            http,
            lwa_url,
            {
                "grant_type": "client_credentials",
                "scope": NOTIFICATIONS_SCOPE,
                "client_id": str(creds["lwa_client_id"]),
                "client_secret": str(creds["lwa_client_secret"]),
            },
        )
        app = SpApiClient(base_url, str(grantless["access_token"]), http, conn)
        destination = await self._destination(app, queue_arn)
        seller = SpApiClient(base_url, await self._seller_token(conn, http, lwa_url), http, conn)
        await self._subscription(seller, destination)
        self._done.add(key)

    async def _destination(self, app: SpApiClient, queue_arn: str) -> str:
        found = await self._find_destination(app, queue_arn)
        if found:
            return found
        try:
            answer = await with_retries(
                partial(
                    app.call,
                    "POST",
                    "/notifications/v1/destinations",
                    body={
                        "name": f"crossdock {queue_arn.rsplit(':', 1)[-1]}"[:256],
                        "resourceSpecification": {"sqs": {"arn": queue_arn}},
                    },
                    operation="createDestination",
                )
            )
        except ChannelError as exc:
            if exc.code != "Conflict":
                raise
            found = await self._find_destination(app, queue_arn)  # made by another process
            if not found:
                raise
            return found
        return str(answer["payload"]["destinationId"])

    @staticmethod
    async def _find_destination(app: SpApiClient, queue_arn: str) -> str | None:
        answer = await with_retries(
            partial(app.call, "GET", "/notifications/v1/destinations", operation="getDestinations")
        )
        for destination in answer.get("payload") or []:
            if ((destination.get("resource") or {}).get("sqs") or {}).get("arn") == queue_arn:
                return str(destination["destinationId"])
        return None

    async def _subscription(self, seller: SpApiClient, destination: str) -> None:
        existing = await self._find_subscription(seller)
        if existing is None:
            try:
                answer = await with_retries(
                    partial(
                        seller.call,
                        "POST",
                        "/notifications/v1/subscriptions/ORDER_CHANGE",
                        body={
                            "payloadVersion": PAYLOAD_VERSION,
                            "destinationId": destination,
                            "processingDirective": ORDER_CHANGE_FILTER,
                        },
                        operation="createSubscription",
                    )
                )
                existing = dict(answer["payload"])
            except ChannelError as exc:
                if exc.code != "Conflict":
                    raise
                existing = await self._find_subscription(seller)  # made by another process
                if existing is None:
                    raise
        if existing.get("destinationId") != destination:
            raise ChannelError(
                f"amazon: the seller's ORDER_CHANGE notifications go to destination "
                f"{existing.get('destinationId')}, not this connection's queue ({destination}); "
                f"delete that subscription to have them here",
                code="SUBSCRIPTION_ELSEWHERE",
            )

    @staticmethod
    async def _find_subscription(seller: SpApiClient) -> dict[str, Any] | None:
        try:
            answer = await with_retries(
                partial(
                    seller.call,
                    "GET",
                    "/notifications/v1/subscriptions/ORDER_CHANGE",
                    params={"payloadVersion": PAYLOAD_VERSION},
                    operation="getSubscription",
                )
            )
        except ChannelError as exc:
            if exc.code == "NotFound":
                return None
            raise
        return dict(answer.get("payload") or {}) or None

    @staticmethod
    async def _seller_token(conn: ChannelConnection, http: httpx.AsyncClient, lwa_url: str) -> str:
        """The seller's access token: the connection's while it lives, else one from the
        refresh token (LWA refresh tokens are long-lived and not replaced by a refresh, so
        this token is only used here, not kept)."""
        creds = conn.credentials
        if (
            creds.get("access_token")
            and float(creds.get("access_expires_at", 0)) > time.time() + EARLY_REFRESH
        ):
            return str(creds["access_token"])
        answer = await lwa_token(
            http,
            lwa_url,
            {
                "grant_type": "refresh_token",
                "refresh_token": str(creds["refresh_token"]),
                "client_id": str(creds["lwa_client_id"]),
                "client_secret": str(creds["lwa_client_secret"]),
            },
        )
        return str(answer["access_token"])
