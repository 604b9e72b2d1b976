"""Stripe, through the official ``stripe`` library (async methods over httpx).

Credentials: ``{"secret_key": "sk_...", "webhook_secret": "whsec_..."}``; ``account.base_url``
replaces ``https://api.stripe.com`` (the emulator, a proxy). Every write carries an
idempotency key (``request.reference`` for a payment, the refund's ``reference`` for a refund)
so a retried call never charges or refunds twice.

``request.payment_token`` is a ``pm_...`` from Stripe.js and ``request.buyer_name`` the billing
name; two keys of ``request.metadata`` are Stripe's own and not forwarded to Stripe's
metadata: ``tax_id`` (Boleto's CPF/CNPJ) and ``bank`` (FPX's bank code).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import stripe

from crossdock import (
    ChannelError,
    CrossdockError,
    Money,
    Payment,
    PaymentAccount,
    PaymentBase,
    PaymentCapability,
    PaymentEvent,
    PaymentMethodOption,
    PaymentRequest,
    PaymentStatus,
    Refund,
)
from crossdock_payments import __version__
from crossdock_payments.minor_units import from_minor, to_minor
from crossdock_payments.stripe_methods import method as table_row
from crossdock_payments.stripe_methods import stripe_payment_methods

__all__ = ["WEBHOOK_TOLERANCE", "PaymentDeclined", "Stripe", "payment_from_intent"]

#: seconds a webhook's signed timestamp may lag behind our clock
WEBHOOK_TOLERANCE = 300
_REQUEST_KEYS = frozenset({"tax_id", "bank"})

_STATUS = {
    "requires_payment_method": PaymentStatus.REQUIRES_ACTION,
    "requires_confirmation": PaymentStatus.REQUIRES_ACTION,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.PROCESSING,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELLED,
}
_REFUND_STATUS = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}


class _HTTPXClient(stripe.HTTPXClient):
    """The library's httpx client, sending the already-encoded form body as ``content=``
    (httpx deprecates raw bytes/text passed as ``data=``)."""

    def _get_request_args_kwargs(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any
    ) -> list[Any]:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        if isinstance(kwargs.get("data"), str | bytes):
            kwargs["content"] = kwargs.pop("data")
        elif not kwargs.get("data"):
            kwargs.pop("data", None)
        return [args, kwargs]


class PaymentDeclined(ChannelError):
    """The buyer's bank or card issuer refused. Permanent: retrying the same method fails again.
    ``payment_reference`` is the PaymentIntent, which may be retried with another method."""

    def __init__(self, message: str, *, code: str, decline_code: str | None, payment_reference: str | None):
        super().__init__(message, code=code, retryable=False)
        self.decline_code = decline_code
        self.payment_reference = payment_reference


def _credential(account: PaymentAccount, key: str) -> str:
    value = account.credentials.get(key)
    if not isinstance(value, str) or not value:
        raise ChannelError(f"the Stripe account has no {key!r} credential", code="CREDENTIALS")
    return value


def _plain(obj: Any) -> dict[str, Any]:
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return dict(obj)


def channel_error(exc: stripe.StripeError) -> ChannelError:
    """One of the library's exceptions as Crossdock's error (without any secret in it)."""
    message = f"Stripe: {exc.user_message or exc.__class__.__name__}"
    if isinstance(exc, stripe.CardError):
        envelope = exc.json_body if isinstance(exc.json_body, dict) else {}
        body = envelope.get("error") or {}
        intent = body.get("payment_intent") or {}
        return PaymentDeclined(
            message,
            code=(exc.code or "card_error").upper(),
            decline_code=body.get("decline_code"),
            payment_reference=intent.get("id"),
        )
    if isinstance(exc, stripe.RateLimitError):
        retry_after = (exc.headers or {}).get("retry-after") or (exc.headers or {}).get("Retry-After")
        try:
            delay = float(retry_after) if retry_after is not None else None
        except ValueError:
            delay = None
        return ChannelError(message, code="RATE_LIMITED", retryable=True, retry_after=delay)
    if isinstance(exc, stripe.APIConnectionError):
        return ChannelError(message, code="CONNECTION", retryable=True)
    if isinstance(exc, stripe.AuthenticationError):
        return ChannelError(message, code="AUTHENTICATION")
    if isinstance(exc, stripe.PermissionError):
        return ChannelError(message, code="FORBIDDEN")
    if isinstance(exc, stripe.IdempotencyError):
        return ChannelError(message, code="IDEMPOTENCY")
    status = exc.http_status or 0
    if status >= 500 or (isinstance(exc, stripe.APIError) and status == 0):
        return ChannelError(message, code="SERVER_ERROR", retryable=True)
    if status == 404:
        return ChannelError(message, code="NOT_FOUND")
    return ChannelError(message, code=(exc.code or "INVALID_REQUEST").upper())


def _next_action(intent: Mapping[str, Any]) -> dict[str, Any] | None:
    action = intent.get("next_action")
    if not action:
        if intent.get("status") in ("requires_payment_method", "requires_confirmation") and not intent.get(
            "last_payment_error"
        ):
            # created without a payment method: the buyer's browser confirms with Stripe.js
            return {"type": "confirm_on_client", "client_secret": intent.get("client_secret")}
        return None
    kind = action.get("type", "")
    details = action.get(kind) or {}
    if kind == "redirect_to_url":
        return {"type": "redirect", "url": details.get("url"), "return_url": details.get("return_url")}
    if kind == "use_stripe_sdk":
        return {"type": "stripe_sdk", "client_secret": intent.get("client_secret")}
    if kind.endswith("_display_details"):
        return {
            "type": "voucher",
            "url": details.get("hosted_voucher_url"),
            "number": details.get("number"),
            "expires_at": details.get("expires_at") or details.get("expires_after"),
        }
    if kind.endswith("_display_qr_code"):
        return {
            "type": "qr_code",
            "data": details.get("data"),
            "image_url": details.get("image_url_png"),
            "url": details.get("hosted_instructions_url"),
        }
    return {"type": kind, "stripe": details}


def payment_from_intent(intent: Mapping[str, Any], method: str) -> Payment:
    """A Stripe PaymentIntent (as a plain dict) as Crossdock's :class:`Payment`."""
    error = intent.get("last_payment_error")
    status = _STATUS.get(intent["status"], PaymentStatus.PROCESSING)
    failure = None
    if intent["status"] == "requires_payment_method" and error:
        status = PaymentStatus.FAILED
        failure = error.get("decline_code") or error.get("code") or "failed"
    return Payment(
        provider_reference=intent["id"],
        status=status,
        amount=from_minor(intent["amount"], intent["currency"]),
        method=method,
        next_action=None if status == PaymentStatus.FAILED else _next_action(intent),
        failure=failure,
        raw=dict(intent),
    )


class Stripe(PaymentBase):
    name = "stripe"
    display_name = "Stripe"
    version = __version__
    capabilities: frozenset[str] = frozenset(
        {
            PaymentCapability.METHODS,
            PaymentCapability.CHARGE,
            PaymentCapability.REFUND,
            PaymentCapability.WEBHOOKS,
        }
    )

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout

    # ------------------------------------------------------------------ client

    @asynccontextmanager
    async def _client(self, account: PaymentAccount) -> AsyncIterator[stripe.StripeClient]:
        http = _HTTPXClient(timeout=self.timeout)
        bases: dict[str, str] = {}
        if account.base_url:
            bases["api"] = account.base_url.rstrip("/")
        client = stripe.StripeClient(
            _credential(account, "secret_key"),
            base_addresses=bases,  # type: ignore[arg-type]
            http_client=http,
            max_network_retries=0,  # the core retries whole operations (same idempotency key)
        )
        try:
            yield client
        except stripe.StripeError as exc:
            raise channel_error(exc) from None
        finally:
            await http.close_async()  # type: ignore[no-untyped-call]

    # ------------------------------------------------------------------ operations

    def payment_methods(
        self, country: str, amount: Money, account: PaymentAccount | None = None
    ) -> Sequence[PaymentMethodOption]:
        return stripe_payment_methods(country, amount, self.name)

    def _intent_params(self, request: PaymentRequest) -> dict[str, Any]:
        method = request.method
        row = table_row(method)
        country = request.country.upper()
        if method != "card":
            if row is None:
                raise ChannelError(
                    f"Stripe method {method!r} is not supported here", code="UNSUPPORTED_METHOD"
                )
            if row.countries.get(country) != request.amount.currency:
                raise ChannelError(
                    f"{row.label} is not available for buyers in {country} "
                    f"paying in {request.amount.currency}",
                    code="METHOD_NOT_AVAILABLE",
                )
        extra = {k: v for k, v in request.metadata.items() if k in _REQUEST_KEYS}
        params: dict[str, Any] = {
            "amount": to_minor(request.amount),
            "currency": request.amount.currency.lower(),
            "payment_method_types": [method],
            "metadata": {
                **{k: v for k, v in request.metadata.items() if k not in _REQUEST_KEYS},
                "crossdock_reference": request.reference,
            },
        }
        if request.description:
            params["description"] = request.description
        if request.email:
            params["receipt_email"] = request.email
        if request.return_url:
            params["return_url"] = request.return_url
        if method == "card":
            if request.payment_token:
                params.update(payment_method=request.payment_token, confirm=True)
            else:
                params.pop("return_url", None)  # only allowed with confirm=true
            return params
        billing: dict[str, Any] = {"address": {"country": country}}
        if request.email:
            billing["email"] = request.email
        if request.buyer_name:
            billing["name"] = request.buyer_name
        data: dict[str, Any] = {"type": method, "billing_details": billing}
        if method == "boleto" and extra.get("tax_id"):
            data["boleto"] = {"tax_id": extra["tax_id"]}
        if method == "fpx" and extra.get("bank"):
            data["fpx"] = {"bank": extra["bank"]}
        params.update(payment_method_data=data, confirm=True)
        return params

    async def create_payment(self, account: PaymentAccount, request: PaymentRequest) -> Payment:
        params = self._intent_params(request)
        async with self._client(account) as client:
            intent = await client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": request.reference},
            )
        return payment_from_intent(_plain(intent), request.method)

    async def get_payment(self, account: PaymentAccount, payment_reference: str) -> Payment:
        """The PaymentIntent as Stripe has it now (not part of the core contract yet)."""
        async with self._client(account) as client:
            intent = await client.v1.payment_intents.retrieve_async(payment_reference)
        raw = _plain(intent)
        types = raw.get("payment_method_types") or ["card"]
        return payment_from_intent(raw, types[0])

    async def refund(
        self, account: PaymentAccount, payment_reference: str, amount: Money, reference: str
    ) -> Refund:
        params = {
            "payment_intent": payment_reference,
            "amount": to_minor(amount),
            "metadata": {"crossdock_reference": reference},
        }
        async with self._client(account) as client:
            refund = await client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": reference},
            )
        raw = _plain(refund)
        return Refund(
            provider_reference=raw["id"],
            payment_reference=raw.get("payment_intent") or payment_reference,
            amount=from_minor(raw["amount"], raw["currency"]),
            status=_REFUND_STATUS.get(raw.get("status") or "", "pending"),
            raw=raw,
        )

    def parse_webhook(
        self, account: PaymentAccount, headers: Mapping[str, str], body: bytes
    ) -> Sequence[PaymentEvent]:
        secret = _credential(account, "webhook_secret")
        signature = {k.lower(): v for k, v in headers.items()}.get("stripe-signature")
        try:
            payload = body.decode("utf-8")
            stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=WEBHOOK_TOLERANCE)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, TypeError, ValueError) as exc:
            # TypeError: the library compares str with str, which refuses a non-ASCII header
            raise ChannelError(f"Stripe webhook rejected: {exc}", code="SIGNATURE") from None
        try:  # a signed body can still be anything: whatever does not read as an event is MALFORMED
            event = json.loads(payload)
            kind, event_id, obj = event["type"], event["id"], event["data"]["object"]
            if not isinstance(obj, dict) or not isinstance(kind, str) or not isinstance(event_id, str):
                raise TypeError("type, id and data.object are a string, a string and an object")
            return _events(kind, event_id, obj, event)
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            IndexError,
            RecursionError,
            CrossdockError,
        ) as exc:
            raise ChannelError(f"Stripe webhook is not an event: {exc!r}", code="MALFORMED") from None


#: Events whose ``data.object`` is one Refund. Since API version 2024-10-28.acacia Stripe
#: sends ``refund.created`` / ``refund.updated`` / ``refund.failed`` for every refund, charge
#: refunds included (https://docs.stripe.com/changelog/acacia/2024-10-28/refund-webhook-update);
#: ``charge.refund.updated`` is the older name for a charge refund's updates.
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})


def _refund_event(event_id: str, refund: Mapping[str, Any], event: Mapping[str, Any]) -> list[PaymentEvent]:
    """One Refund object as a ``refund.succeeded`` / ``refund.failed`` event keyed by its
    id; a refund still pending says nothing yet (its update will)."""
    status = _REFUND_STATUS.get(str(refund.get("status") or ""), "pending")
    if status == "pending":
        return []
    if not isinstance(refund["id"], str):
        raise TypeError("a refund's id is a string")
    reference = refund.get("payment_intent") or refund.get("charge") or refund["id"]
    return [
        PaymentEvent(
            f"refund.{status}",
            event_id,
            reference,
            from_minor(refund["amount"], refund["currency"]),
            event,
            refund_reference=refund["id"],
        )
    ]


def _events(kind: str, event_id: str, obj: Mapping[str, Any], event: Mapping[str, Any]) -> list[PaymentEvent]:
    if kind == "payment_intent.succeeded":
        received = obj.get("amount_received") or obj["amount"]
        return [
            PaymentEvent(
                "payment.succeeded", event_id, obj["id"], from_minor(received, obj["currency"]), event
            )
        ]
    if kind == "payment_intent.payment_failed":
        return [
            PaymentEvent(
                "payment.failed", event_id, obj["id"], from_minor(obj["amount"], obj["currency"]), event
            )
        ]
    if kind in REFUND_EVENTS:
        return _refund_event(event_id, obj, event)
    if kind == "charge.refunded":
        # Since API version 2022-11-15 the Charge no longer embeds its refunds
        # (https://docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand) and
        # ``amount_refunded`` is the running total, not the refund just made: each refund is
        # taken from its own refund.* event. An older or expanded payload still listing the
        # refunds gives each of them, keyed by its id, so nothing is counted twice.
        listed = obj.get("refunds")
        refunds = listed.get("data") if isinstance(listed, dict) else None
        if not isinstance(refunds, list):
            return []
        return [e for refund in refunds for e in _refund_event(event_id, refund, event)]
    return []
