"""A local Amazon SQS (JSON protocol, SigV4-verified), as the SP-API notification
destination: the Amazon emulator puts an ``ORDER_CHANGE`` notification on a seller's queue
whenever one of its orders changes.

Served at ``POST /`` with ``X-Amz-Target: AmazonSQS.{ReceiveMessage, DeleteMessageBatch,
SendMessage}``. Received messages stay hidden for their visibility timeout and come back if
not deleted, as on SQS, so consumers that crash before deleting are exercised.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from crossdock.testing.emulator import Reply, Request

__all__ = ["ACCOUNT", "SqsService", "order_change"]

ACCOUNT = "123456789012"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
SKEW = 15 * 60  # SigV4 requests are valid 15 minutes either side


@dataclass
class Message:
    id: str
    body: str
    visible_at: float = 0.0
    receipt: str | None = None
    receive_count: int = 0


@dataclass
class Queue:
    name: str
    messages: list[Message] = field(default_factory=list)


def order_change(
    order: Mapping[str, Any], seller_id: str, application_id: str, published: float
) -> dict[str, Any]:
    """The SP-API ``ORDER_CHANGE`` notification for an order's current state."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(published))
    return {
        "NotificationVersion": "1.0",
        "NotificationType": "ORDER_CHANGE",
        "PayloadVersion": "1.0",
        "EventTime": when,
        "Payload": {
            "OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": seller_id,
                "AmazonOrderId": order["AmazonOrderId"],
                "OrderChangeType": "OrderStatusChange",
                "OrderChangeTrigger": {"TimeOfOrderChange": when, "ChangeReason": "OrderStatusChange"},
                "Summary": {
                    "MarketplaceId": order["MarketplaceId"],
                    "OrderStatus": order["OrderStatus"],
                    "PurchaseDate": order["PurchaseDate"],
                    "FulfillmentType": order["FulfillmentChannel"],
                },
            }
        },
        "NotificationMetadata": {
            "ApplicationId": application_id,
            "SubscriptionId": secrets.token_hex(8),
            "PublishTime": when,
            "NotificationId": secrets.token_hex(16),
        },
    }


class SqsService:
    """Queues by name, AWS keys by access key id."""

    def __init__(self, clock: Callable[[], float], region: str = "us-east-1") -> None:
        self.clock = clock
        self.region = region
        self.queues: dict[str, Queue] = {}
        self.keys: dict[str, str] = {}
        #: the next DeleteMessageBatch calls to fail (a consumer crash before its delete)
        self.fail_deletes = 0

    def queue_url(self, name: str) -> str:
        return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{name}"

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{ACCOUNT}:{name}"

    def queue_named_by(self, arn: str) -> str | None:
        """The name of this service's queue with that ARN, if it has one."""
        name = arn.rsplit(":", 1)[-1]
        return name if name in self.queues and self.queue_arn(name) == arn else None

    def create_queue(self, name: str) -> str:
        self.queues.setdefault(name, Queue(name))
        return self.queue_url(name)

    def issue_keys(self) -> dict[str, str]:
        access_key = f"AKIA{secrets.token_hex(8).upper()}"
        self.keys[access_key] = secrets.token_urlsafe(30)
        return {"aws_access_key_id": access_key, "aws_secret_access_key": self.keys[access_key]}

    def send(self, name: str, body: str) -> str:
        message = Message(
            id=f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(6)}", body=body
        )
        self.queues[name].messages.append(message)
        return message.id

    def expire_visibility(self) -> None:
        """Every message received but not deleted becomes visible again now."""
        for queue in self.queues.values():
            for message in queue.messages:
                message.visible_at = 0.0

    # ------------------------------------------------------------------ protocol

    @staticmethod
    def _error(status: int, code: str, message: str, namespace: str = "com.amazonaws.sqs") -> Reply:
        return Reply(
            status,
            {"__type": f"{namespace}#{code}", "message": message},
            {"x-amzn-RequestId": secrets.token_hex(16)},
        )

    def _verify(self, request: Request) -> Reply | None:
        match = _AUTH.fullmatch(request.headers.get("authorization", "").strip())
        if match is None:
            return self._error(
                400,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
                "com.amazon.coral.service",
            )
        secret = self.keys.get(match["key"])
        if secret is None:
            return self._error(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
                "com.amazon.coral.service",
            )
        stamp = request.headers.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            return self._error(
                400, "IncompleteSignature", "X-Amz-Date is missing or malformed", "com.amazon.coral.service"
            )
        if abs(self.clock() - signed_at) > SKEW:
            return self._error(400, "RequestExpired", "Signature expired", "com.amazon.coral.service")
        names = match["signed"].split(";")
        host = request.headers.get("host", "")
        aws = AWSRequest(
            method=request.method,
            url=f"http://{host}{request.path}",
            data=request.body,
            headers={n: request.headers.get(n, "") for n in names},
        )
        aws.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(match["key"], secret), match["service"], match["region"])
        canonical = signer.canonical_request(aws)
        expected = signer.signature(signer.string_to_sign(aws, canonical), aws)
        if not secrets.compare_digest(expected, match["signature"]):
            return self._error(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
                "com.amazon.coral.service",
            )
        return None

    async def handle(self, request: Request) -> Reply:
        refused = self._verify(request)
        if refused is not None:
            return refused
        action = request.headers.get("x-amz-target", "").removeprefix("AmazonSQS.")
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return self._error(400, "SerializationException", "body is not JSON", "com.amazon.coral.service")
        name = str(payload.get("QueueUrl", "")).rstrip("/").rsplit("/", 1)[-1]
        queue = self.queues.get(name)
        if queue is None:
            return self._error(400, "QueueDoesNotExist", "The specified queue does not exist.")
        handler = {
            "ReceiveMessage": self._receive,
            "DeleteMessageBatch": self._delete_batch,
            "SendMessage": self._send,
        }.get(action)
        if handler is None:
            return self._error(
                400, "UnknownOperationException", f"unknown operation {action}", "com.amazon.coral.service"
            )
        return handler(queue, payload)

    def _receive(self, queue: Queue, payload: Mapping[str, Any]) -> Reply:
        count = int(payload.get("MaxNumberOfMessages", 1))
        if not 1 <= count <= 10:
            return self._error(400, "InvalidParameterValue", "MaxNumberOfMessages must be between 1 and 10")
        hide = float(payload.get("VisibilityTimeout", 30))
        now = self.clock()
        out: list[dict[str, Any]] = []
        for message in queue.messages:
            if len(out) == count:
                break
            if message.visible_at > now:
                continue
            message.visible_at = now + hide
            message.receipt = secrets.token_urlsafe(48)
            message.receive_count += 1
            out.append(
                {
                    "MessageId": message.id,
                    "ReceiptHandle": message.receipt,
                    "MD5OfBody": hashlib.md5(message.body.encode()).hexdigest(),
                    "Body": message.body,
                    "Attributes": {"ApproximateReceiveCount": str(message.receive_count)},
                }
            )
        return Reply(200, {"Messages": out} if out else {})

    def _delete_batch(self, queue: Queue, payload: Mapping[str, Any]) -> Reply:
        if self.fail_deletes:
            self.fail_deletes -= 1
            return self._error(500, "InternalError", "We encountered an internal error. Please try again.")
        entries = payload.get("Entries") or []
        if not 1 <= len(entries) <= 10:
            return self._error(
                400, "TooManyEntriesInBatchRequest" if entries else "EmptyBatchRequest", "1 to 10 entries"
            )
        done, failed = [], []
        for entry in entries:
            match = next((m for m in queue.messages if m.receipt == entry.get("ReceiptHandle")), None)
            if match is None:
                failed.append(
                    {
                        "Id": entry.get("Id"),
                        "SenderFault": True,
                        "Code": "ReceiptHandleIsInvalid",
                        "Message": "invalid receipt handle",
                    }
                )
                continue
            queue.messages.remove(match)
            done.append({"Id": entry.get("Id")})
        return Reply(200, {"Successful": done, "Failed": failed})

    def _send(self, queue: Queue, payload: Mapping[str, Any]) -> Reply:
        body = str(payload.get("MessageBody") or "")
        if not body:
            return self._error(400, "MissingParameter", "MessageBody is required")
        message_id = self.send(queue.name, body)
        return Reply(
            200, {"MessageId": message_id, "MD5OfMessageBody": hashlib.md5(body.encode()).hexdigest()}
        )
