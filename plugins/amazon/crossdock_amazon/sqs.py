"""Amazon SQS, as the SP-API notification destination: the queue Crossdock reads.

Speaks SQS's JSON protocol (``POST /`` with ``X-Amz-Target: AmazonSQS.<Action>`` and an
``application/x-amz-json-1.0`` body) signed with AWS Signature Version 4 (botocore's
signer, the reference implementation). Only what a consumer needs: ``ReceiveMessage`` and
``DeleteMessageBatch``. Errors are ``{"__type": "...#Code", "message": ...}``: throttling
and 5xx are transient, the rest (bad keys, no such queue, no permission) permanent.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx
from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from crossdock import ChannelError, Notification, with_retries

__all__ = ["ATTEMPTS", "SqsQueue", "queue_region", "sign"]

#: tries of one SQS call on transient errors (a 500 on a delete must not undo a stored
#: batch: its messages would stay hidden for the visibility timeout)
ATTEMPTS = 3

CONTENT_TYPE = "application/x-amz-json-1.0"
TRANSIENT = frozenset(
    {
        "ThrottlingException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "KmsThrottled",
    }
)


def queue_region(queue_url: str) -> str:
    """``https://sqs.eu-west-1.amazonaws.com/123/q`` -> ``eu-west-1`` (us-east-1 otherwise)."""
    parts = urlsplit(queue_url).hostname or ""
    labels = parts.split(".")
    return labels[1] if len(labels) > 3 and labels[0] == "sqs" else "us-east-1"


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    service: str = "sqs",
    session_token: str | None = None,
) -> dict[str, str]:
    """The request's headers with SigV4 ``Authorization`` and ``X-Amz-Date`` added."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials(access_key, secret_key, session_token), service, region).add_auth(request)
    return dict(request.headers.items())


def _error(response: httpx.Response, action: str) -> ChannelError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = str(body.get("__type") or response.status_code).rsplit("#", 1)[-1]
    message = str(body.get("message") or body.get("Message") or response.reason_phrase)
    transient = response.status_code >= 500 or response.status_code == 429 or code in TRANSIENT
    return ChannelError(
        f"sqs {action}: {message}",
        code=code,
        retryable=transient,
        retry_after=1.0 if code in ("ThrottlingException", "RequestThrottled") else None,
    )


class SqsQueue:
    """One SQS queue read as a :class:`crossdock.NotificationSource`.

    ``parse`` turns a message body into what the event is about; ``visibility_timeout`` is
    how long a received message stays hidden before SQS hands it out again (a consumer that
    crashed before deleting it loses nothing). ``before_first_receive`` runs once before the
    first receive (Amazon: make sure the seller's notifications are sent to this queue).
    """

    def __init__(
        self,
        queue_url: str,
        *,
        access_key: str,
        secret_key: str,
        http: httpx.AsyncClient,
        parse: Callable[[str], Sequence[Mapping[str, Any]]],
        endpoint: str | None = None,
        region: str | None = None,
        session_token: str | None = None,
        visibility_timeout: int = 60,
        before_first_receive: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.queue_url = queue_url
        parts = urlsplit(queue_url)
        self.endpoint = (endpoint or f"{parts.scheme}://{parts.netloc}").rstrip("/") + "/"
        self.region = region or queue_region(queue_url)
        self.access_key, self.secret_key, self.session_token = access_key, secret_key, session_token
        self.http = http
        self.parse = parse
        self.visibility_timeout = visibility_timeout
        self._before_first_receive = before_first_receive

    @staticmethod
    def arn_of(queue_url: str) -> str:
        """``https://sqs.eu-west-1.amazonaws.com/123/q`` -> ``arn:aws:sqs:eu-west-1:123:q``."""
        parts = urlsplit(queue_url)
        account, _, name = parts.path.strip("/").partition("/")
        return f"arn:aws:sqs:{queue_region(queue_url)}:{account}:{name}"

    async def call(self, action: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps({"QueueUrl": self.queue_url, **payload}).encode()
        headers = sign(
            "POST",
            self.endpoint,
            {"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"AmazonSQS.{action}"},
            body,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            session_token=self.session_token,
        )
        try:
            response = await self.http.post(self.endpoint, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise ChannelError(f"sqs {action} timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"sqs {action}: {exc}", code="NETWORK", retryable=True) from exc
        if response.status_code >= 300:
            raise _error(response, action)
        try:
            return dict(response.json()) if response.content else {}
        except ValueError:
            raise ChannelError(
                f"sqs {action} answered invalid JSON", code="MALFORMED", retryable=True
            ) from None

    async def receive(self, max_messages: int) -> Sequence[Notification]:
        if self._before_first_receive is not None:
            await self._before_first_receive()
            self._before_first_receive = None
        answer = await with_retries(
            partial(
                self.call,
                "ReceiveMessage",
                {
                    "MaxNumberOfMessages": max(1, min(10, max_messages)),
                    "VisibilityTimeout": self.visibility_timeout,
                    "WaitTimeSeconds": 0,
                },
            ),
            attempts=ATTEMPTS,
        )
        found = []
        for message in answer.get("Messages") or []:
            body = str(message.get("Body") or "")
            try:
                references = self.parse(body)
            except ValueError:
                references = []  # not an SP-API notification: stored and ignored
            found.append(
                Notification(
                    id=str(message["MessageId"]),
                    receipt=str(message["ReceiptHandle"]),
                    references=references,
                    body=body,
                )
            )
        return found

    async def ack(self, receipts: Sequence[str]) -> None:
        for start in range(0, len(receipts), 10):  # DeleteMessageBatch takes ten entries
            entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts[start : start + 10])]
            answer = await with_retries(
                partial(self.call, "DeleteMessageBatch", {"Entries": entries}), attempts=ATTEMPTS
            )
            failed = [f for f in answer.get("Failed") or [] if f.get("Code") != "ReceiptHandleIsInvalid"]
            if failed:
                raise ChannelError(
                    f"sqs DeleteMessageBatch: {failed[0].get('Message') or failed[0].get('Code')}",
                    code=str(failed[0].get("Code") or "BatchEntryFailed"),
                    retryable=not failed[0].get("SenderFault", False),
                )
