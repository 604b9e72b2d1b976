"""Shopee pushes: what a push is about, its identity, and the lost ones read back.

Shopee POSTs pushes to the partner's callback URL and keeps each one not answered 2xx as
*lost*. ``v2.push.get_lost_push_message`` (a Public API: partner-level, signed with
``partner_id + path + timestamp`` only) answers the earliest 100 lost in the last 3 days and
not yet confirmed: ``push_message_list[]`` of ``{shop_id (absent for partner-level codes 1,
2, 12), code, timestamp (when it was lost), data (the push itself)}``, ``has_next_page`` and
``last_message_id``; ``v2.push.confirm_consumed_lost_push_message`` ``{last_message_id}``
(required) consumes every lost push up to that id. There is no per-message id, no paging
parameter (the next 100 come once these are confirmed) and no per-shop filter. Sources:
``schemas/v2.push.get_lost_push_message.json`` and
``schemas/v2.push.confirm_consumed_lost_push_message.json`` in ``congminh1254/shopee-sdk``
(the API reference JSON).

A Crossdock connection is one shop, while the list is the whole partner's. So the source
hands out its own shop's pushes only, and confirms a page only once no other shop can
still need it: when every push in the page is this shop's (or partner-level, which
Crossdock ignores), or when the page's newest push was lost longer ago than
``settings.lost_push_grace_seconds`` (600 by default: every connection of the partner has
drained it by then). Until then the page is read again on each drain and recognised (by
each push's id, below), never stored twice.

A push's id is the digest of the push object itself (canonical JSON): the same for the
push delivered to ``/webhooks/shopee/{key}`` and for its copy in the lost list, so a push
that reached Crossdock but whose 2xx answer Shopee never saw is stored once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from crossdock import ChannelConnection, ChannelError, Notification, with_retries
from crossdock_shopee.client import ShopeeClient

__all__ = ["CONFIRM_PATH", "LOST_PATH", "LostPushes", "push_id", "references"]

LOST_PATH = "/api/v2/push/get_lost_push_message"
CONFIRM_PATH = "/api/v2/push/confirm_consumed_lost_push_message"
#: push codes about an order: 3 order status, 4 tracking number (v2.push.set_app_push_config)
ORDER_CODES = frozenset({3, 4})
GRACE = 600
RETRIES = 4


def push_id(push: Mapping[str, Any]) -> str:
    """The push's identity: a digest of its canonical JSON."""
    canonical = json.dumps(push, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "shopee-push:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def references(push: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The orders a push names (codes 3 and 4); others are acknowledged and ignored."""
    data = push.get("data") or {}
    if not isinstance(data, Mapping):
        raise ChannelError("shopee push data is not an object", code="MALFORMED")
    ordersn = data.get("ordersn")
    if push.get("code") in ORDER_CODES and ordersn:
        if not isinstance(ordersn, str):
            raise ChannelError("shopee push ordersn is not a string", code="MALFORMED")
        return [{"type": "order", "external_id": ordersn}]
    return []


def _push(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The push a lost-list entry carries: ``data`` is the push (a JSON string by the
    reference's type, an object in its sample); None when it is neither."""
    data = entry.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    return dict(data) if isinstance(data, Mapping) else None


class LostPushes:
    """The partner's lost pushes, read as one shop's :class:`crossdock.NotificationSource`.

    ``receive`` hands out this shop's pushes of the current page; ``ack`` confirms the page
    with Shopee once all of them are acknowledged and the page may be confirmed (see the
    module doc), then the next page is read.
    """

    def __init__(self, conn: ChannelConnection, *, grace: float | None = None) -> None:
        creds = conn.credentials
        self.shop_id = int(creds["shop_id"])
        self.client = ShopeeClient(
            int(creds["partner_id"]),
            str(creds["partner_key"]),
            base_url=conn.base_url,
            http=conn.http_client(),
        )
        configured = conn.settings.get("lost_push_grace_seconds")
        self.grace = grace if grace is not None else float(GRACE if configured is None else configured)
        self._last_id: int | None = None  # the page being handed out
        self._confirmable = False
        self._more = False
        self._ready: list[Notification] = []  # this shop's pushes not yet handed out
        self._unacked: set[str] = set()
        self._done = False  # the page cannot be confirmed yet: nothing more this drain

    async def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        async def once() -> dict[str, Any]:
            return await self.client.call(method, path, body=body)

        return await with_retries(once, attempts=RETRIES)

    async def _read_page(self) -> None:
        answer = await self._call("GET", LOST_PATH)
        response = answer.get("response") or {}
        entries = [e for e in response.get("push_message_list") or [] if isinstance(e, Mapping)]
        self._last_id = int(response.get("last_message_id") or 0) or None
        self._more = bool(response.get("has_next_page"))
        others_newest = 0
        self._ready, self._unacked = [], set()
        for entry in entries:
            push = _push(entry)
            shop = entry.get("shop_id") if entry.get("shop_id") is not None else (push or {}).get("shop_id")
            if shop is None:
                continue  # partner-level (authorisation) pushes: Crossdock has no use for them
            if int(shop) != self.shop_id:
                others_newest = max(others_newest, int(entry.get("timestamp") or 0))
                continue
            if push is None:
                raise ChannelError("shopee lost push carries no push", code="MALFORMED", retryable=True)
            receipt = f"{self._last_id}:{len(self._ready)}"
            self._ready.append(
                Notification(
                    # the key the core stores a webhook with an event id under ("event:" +
                    # id): the push delivered to /webhooks and its lost copy are one event
                    id=f"event:{push_id(push)}",
                    receipt=receipt,
                    references=references(push),
                    body=json.dumps(push, sort_keys=True),
                )
            )
            self._unacked.add(receipt)
        self._confirmable = self._last_id is not None and (
            not others_newest or time.time() - others_newest >= self.grace
        )

    async def receive(self, max_messages: int) -> Sequence[Notification]:
        if not self._ready and self._unacked:
            return []  # what was handed out is not acknowledged yet
        while not self._ready and not self._done:
            # the previous page is handed out and acknowledged: confirm it, go on
            if self._last_id is not None and not self._unacked and not await self._confirm():
                break
            await self._read_page()
            if self._last_id is None:  # nothing lost
                self._done = True
            elif not self._ready and not self._confirmable:
                self._done = True  # other shops' pushes, still theirs to drain
        batch, self._ready = self._ready[:max_messages], self._ready[max_messages:]
        return batch

    async def ack(self, receipts: Sequence[str]) -> None:
        self._unacked.difference_update(receipts)
        if not self._unacked and not self._ready and self._last_id is not None and not self._more:
            await self._confirm()  # the last page: confirm now, the drain may stop here

    async def _confirm(self) -> bool:
        """Confirm the current page when allowed; whether there is a next page to read."""
        if self._last_id is None:
            return False
        if not self._confirmable:
            self._done = True
            return False
        await self._call("POST", CONFIRM_PATH, {"last_message_id": self._last_id})
        more, self._last_id, self._more = self._more, None, False
        if not more:
            self._done = True
        return more
