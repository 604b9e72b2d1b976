"""The Notifications API v1 side of the emulator (``notifications.json``).

Destinations belong to the application and are managed with grantless tokens (LWA
``client_credentials`` with scope ``sellingpartnerapi::notifications``); subscriptions
belong to a seller and are made with the seller's own access token. A seller's
``ORDER_CHANGE`` events reach an SQS queue only once the seller has a subscription whose
destination is that queue's ARN.

Served: ``GET|POST /notifications/v1/destinations``,
``GET|POST /notifications/v1/subscriptions/{notificationType}``. Refusals as the model
says: 400 ``InvalidInput`` (a missing ``name``, ``resourceSpecification``, ``arn``,
``payloadVersion`` or ``destinationId``, an ARN not matching ``^arn:aws:sqs:\\S+:\\S+:\\S+``,
an unknown notification type or payload version, an ``eventFilterType`` for another
type), 404 ``NotFound`` (no subscription; an unknown destination), 409 ``Conflict`` (the
destination or the subscription exists already).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crossdock.testing.emulator import Reply, Request

__all__ = ["NOTIFICATIONS_SCOPE", "Notifications"]

NOTIFICATIONS_SCOPE = "sellingpartnerapi::notifications"
SQS_ARN = re.compile(r"^arn:aws:sqs:\S+:\S+:\S+")  # notifications.json SqsResource.arn
ARN_MAX = 1000
NAME_MAX = 256
#: notification type -> its payload versions (schemas/notifications/OrderChangeNotification.json: "1.0")
PAYLOAD_VERSIONS = {"ORDER_CHANGE": ("1.0",), "ANY_OFFER_CHANGED": ("1.0",)}
ORDER_CHANGE_TYPES = ("BuyerRequestedChange", "DeliveryTipChange", "OrderStatusChange")


@dataclass
class Subscriptions:
    """What the emulated Notifications API holds: destinations per application (LWA client
    id), subscriptions per (seller, notification type)."""

    destinations: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: how many times each operation was answered successfully (tests count set-ups)
    created: dict[str, int] = field(default_factory=dict)


class Notifications:
    """Handlers; ``grantless(request)`` / ``seller(request)`` authenticate as the emulator
    does (a Reply is a refusal)."""

    def __init__(
        self,
        error: Callable[[int, str, str], Reply],
        grantless: Callable[[Request], str | Reply],
        seller: Callable[[Request], tuple[str, str] | Reply],
    ) -> None:
        self.error, self._grantless, self._seller = error, grantless, seller
        self.book = Subscriptions()

    def _invalid(self, message: str) -> Reply:
        return self.error(400, "InvalidInput", message)

    def _count(self, operation: str) -> None:
        self.book.created[operation] = self.book.created.get(operation, 0) + 1

    # ------------------------------------------------------------------ destinations

    async def get_destinations(self, request: Request) -> Reply:
        app = self._grantless(request)
        if isinstance(app, Reply):
            return app
        return Reply(200, {"payload": list(self.book.destinations.get(app, {}).values())})

    async def create_destination(self, request: Request) -> Reply:
        app = self._grantless(request)
        if isinstance(app, Reply):
            return app
        body = request.json()
        if not isinstance(body, dict):
            return self._invalid("The request body must be a CreateDestinationRequest object")
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return self._invalid("name is required")
        if len(name) > NAME_MAX:
            return self._invalid(f"name is longer than {NAME_MAX} characters")
        spec = body.get("resourceSpecification")
        if not isinstance(spec, dict) or not spec:
            return self._invalid("resourceSpecification is required")
        if "sqs" in spec and "eventBridge" in spec:
            return self._invalid("Use one resource type (sqs or eventBridge) per destination")
        sqs = spec.get("sqs")
        if not isinstance(sqs, dict):
            return self._invalid("resourceSpecification.sqs is required (EventBridge is not emulated)")
        arn = sqs.get("arn")
        if not isinstance(arn, str) or not arn:
            return self._invalid("resourceSpecification.sqs.arn is required")
        if len(arn) > ARN_MAX or not SQS_ARN.match(arn):
            return self._invalid(f"resourceSpecification.sqs.arn {arn!r} is not an SQS queue ARN")
        mine = self.book.destinations.setdefault(app, {})
        if any(d["resource"]["sqs"]["arn"] == arn for d in mine.values()):
            return self.error(409, "Conflict", f"A destination for {arn} already exists")
        destination_id = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(6)}"
        destination = {"destinationId": destination_id, "name": name, "resource": {"sqs": {"arn": arn}}}
        mine[destination_id] = destination
        self._count("createDestination")
        return Reply(200, {"payload": destination})

    # ------------------------------------------------------------------ subscriptions

    def _type(self, request: Request) -> str | Reply:
        notification_type = request.args[0]
        if notification_type not in PAYLOAD_VERSIONS:
            return self._invalid(f"Invalid notificationType {notification_type}")
        return notification_type

    async def get_subscription(self, request: Request) -> Reply:
        who = self._seller(request)
        if isinstance(who, Reply):
            return who
        seller, _ = who
        kind = self._type(request)
        if isinstance(kind, Reply):
            return kind
        version = request.query.get("payloadVersion")
        found = self.book.subscriptions.get((seller, kind))
        if found is None or (version and found["payloadVersion"] != version):
            return self.error(404, "NotFound", f"No subscription for {kind} found")
        return Reply(200, {"payload": found})

    async def create_subscription(self, request: Request) -> Reply:
        who = self._seller(request)
        if isinstance(who, Reply):
            return who
        seller, app = who
        kind = self._type(request)
        if isinstance(kind, Reply):
            return kind
        body = request.json()
        if not isinstance(body, dict):
            return self._invalid("The request body must be a CreateSubscriptionRequest object")
        version, destination_id = body.get("payloadVersion"), body.get("destinationId")
        if not isinstance(version, str) or not version:
            return self._invalid("payloadVersion is required")
        if version not in PAYLOAD_VERSIONS[kind]:
            return self._invalid(f"payloadVersion {version} is not offered for {kind}")
        if not isinstance(destination_id, str) or not destination_id:
            return self._invalid("destinationId is required")
        if destination_id not in self.book.destinations.get(app, {}):
            return self.error(404, "NotFound", f"Destination {destination_id} not found")
        directive = body.get("processingDirective")
        if directive is not None:
            refused = _directive_refusal(directive, kind)
            if refused:
                return self._invalid(refused)
        if (seller, kind) in self.book.subscriptions:
            return self.error(409, "Conflict", f"A subscription for {kind} already exists")
        subscription: dict[str, Any] = {
            "subscriptionId": secrets.token_hex(16),
            "payloadVersion": version,
            "destinationId": destination_id,
        }
        if directive is not None:
            subscription["processingDirective"] = directive
        self.book.subscriptions[(seller, kind)] = subscription
        self._count("createSubscription")
        return Reply(200, {"payload": subscription})

    # ------------------------------------------------------------------ delivery

    def queue_arn_for(self, seller: str, kind: str, app: str) -> str | None:
        """The SQS ARN a seller's ``kind`` events go to, if it has a subscription."""
        found = self.book.subscriptions.get((seller, kind))
        if found is None:
            return None
        destination = self.book.destinations.get(app, {}).get(found["destinationId"])
        return str(destination["resource"]["sqs"]["arn"]) if destination else None

    def subscribe(self, seller: str, app: str, arn: str, kind: str = "ORDER_CHANGE") -> None:
        """A seller's subscription made out of band (as if set up once before)."""
        mine = self.book.destinations.setdefault(app, {})
        existing = next((d for d in mine.values() if d["resource"]["sqs"]["arn"] == arn), None)
        if existing is None:
            existing = {"destinationId": secrets.token_hex(8), "name": arn, "resource": {"sqs": {"arn": arn}}}
            mine[existing["destinationId"]] = existing
        self.book.subscriptions[(seller, kind)] = {
            "subscriptionId": secrets.token_hex(16),
            "payloadVersion": PAYLOAD_VERSIONS[kind][0],
            "destinationId": existing["destinationId"],
        }


def _directive_refusal(directive: Any, kind: str) -> str | None:
    """What is wrong with a ``processingDirective`` (``ProcessingDirective``, ``EventFilter``)."""
    if not isinstance(directive, dict):
        return "processingDirective must be an object"
    event_filter = directive.get("eventFilter")
    if event_filter is None:
        return None
    if "filterExpression" in directive:
        return "eventFilter and filterExpression are mutually exclusive"
    if not isinstance(event_filter, dict) or not event_filter.get("eventFilterType"):
        return "processingDirective.eventFilter.eventFilterType is required"
    if event_filter["eventFilterType"] != kind:
        return f"eventFilterType {event_filter['eventFilterType']} does not apply to {kind}"
    kinds = event_filter.get("orderChangeTypes")
    if kinds is not None and (not isinstance(kinds, list) or any(k not in ORDER_CHANGE_TYPES for k in kinds)):
        return f"orderChangeTypes must be among {', '.join(ORDER_CHANGE_TYPES)}"
    return None
