"""A Stripe emulator: the slice of Stripe's REST API the official library uses for payments.

Served over real HTTP (``crossdock.testing.emulator.serve``), it speaks Stripe's protocol as
the ``stripe`` package sends it: form-encoded bodies with bracketed keys
(``payment_method_data[billing_details][email]``), ``Authorization: Bearer sk_...``,
``Idempotency-Key`` replay, and Stripe's error envelope
``{"error": {"type", "code", "decline_code", "message", "param"}}``.

Endpoints: ``POST /v1/payment_intents``, ``GET /v1/payment_intents/{id}``,
``POST /v1/payment_intents/{id}/confirm``, ``POST /v1/refunds``, ``GET /v1/refunds/{id}``.

Test payment methods behave like Stripe's documented test tokens and numbers:
``pm_card_visa`` / 4242424242424242 succeed, ``pm_card_chargeDeclined`` / 4000000000000002
decline (``card_declined``), ``pm_card_chargeDeclinedInsufficientFunds`` / 4000000000009995
decline with ``insufficient_funds``, ``pm_card_threeDSecure2Required`` /
``pm_card_authenticationRequired`` / 4000002760003184 require 3-D Secure. Local methods
(``payment_method_data[type]``) answer with the next action Stripe gives them: a redirect
(iDEAL, Bancontact, Klarna, GrabPay, FPX), a voucher (Boleto, OXXO, Konbini) or a QR code
(PayNow, PromptPay); :meth:`StripeEmulator.complete` plays the buyer finishing it.

Seller side: :meth:`open_account` gives credentials, every state change records an event
(``payment_intent.succeeded``, ``payment_intent.payment_failed``, ``refund.created`` and
``charge.refunded`` for each refund, ``refund.updated`` and ``refund.failed`` when
:meth:`fail_refund` plays a bank returning one), :meth:`signed_webhook` returns the headers
and body Stripe would POST for one, and :meth:`deliver` POSTs it to a URL.

It answers as API version :data:`API_VERSION` does: a Charge does not embed its refunds
(not auto-expanded since 2022-11-15,
https://docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand) and every
refund has its own ``refund.*`` events (since 2024-10-28.acacia,
https://docs.stripe.com/changelog/acacia/2024-10-28/refund-webhook-update).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from crossdock.testing.emulator import Emulator, Faults, Reply, Request
from crossdock_payments.minor_units import STRIPE_THREE_DECIMAL

__all__ = ["StripeEmulator", "decode_form"]

API_VERSION = "2024-10-28.acacia"

SUCCEED = "succeed"
DECLINE = "decline"
INSUFFICIENT = "insufficient_funds"
THREE_DS = "3ds"

#: Stripe's test payment methods -> outcome
TEST_PAYMENT_METHODS: Mapping[str, str] = {
    "pm_card_visa": SUCCEED,
    "pm_card_mastercard": SUCCEED,
    "pm_card_chargeDeclined": DECLINE,
    "pm_card_chargeDeclinedInsufficientFunds": INSUFFICIENT,
    "pm_card_threeDSecure2Required": THREE_DS,
    "pm_card_authenticationRequired": THREE_DS,
}
#: Stripe's test card numbers -> outcome
TEST_CARD_NUMBERS: Mapping[str, str] = {
    "4242424242424242": SUCCEED,
    "5555555555554444": SUCCEED,
    "4000000000000002": DECLINE,
    "4000000000009995": INSUFFICIENT,
    "4000002760003184": THREE_DS,
    "4000000000003220": THREE_DS,
}
REDIRECT_TYPES = frozenset({"ideal", "bancontact", "klarna", "grabpay", "fpx"})
VOUCHER_TYPES = frozenset({"boleto", "oxxo", "konbini"})
QR_TYPES = frozenset({"paynow", "promptpay"})
LOCAL_TYPES = REDIRECT_TYPES | VOUCHER_TYPES | QR_TYPES


class StripeFailure(Exception):
    """Raised inside a handler: answered as Stripe's error envelope."""

    def __init__(self, status: int, type_: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "message": message}
        self.body.update({k: v for k, v in extra.items() if v is not None})


def decode_form(body: bytes) -> dict[str, Any]:
    """Stripe's bracketed form encoding back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if not match:
            raise ValueError(f"malformed parameter name {key!r}")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"parameter {key!r} mixes a value and a hash")
        node[parts[-1]] = value
    decoded: dict[str, Any] = _lists(root)
    return decoded


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


@dataclass
class _Account:
    secret_key: str
    webhook_secret: str
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    #: idempotency key -> (method, path, params, status, body)
    replays: dict[str, tuple[str, str, Any, int, Any]] = field(default_factory=dict)
    #: payment intent id -> outcome decided at confirmation (for 3DS and redirects)
    pending: dict[str, str] = field(default_factory=dict)


class StripeEmulator(Emulator):
    name = "stripe"
    #: Stripe accounts are not bound to a site; the kit's handles want one
    default_site = "US"

    def __init__(self, faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.accounts: dict[str, _Account] = {}
        self._ids = itertools.count(1)
        #: requests that really reached a handler (replays excluded), per endpoint
        self.executed: dict[str, int] = {}
        self.route("POST", "/v1/payment_intents", self._create_intent)
        self.route_pattern("GET", r"/v1/payment_intents/([A-Za-z0-9_]+)", self._get_intent)
        self.route_pattern("POST", r"/v1/payment_intents/([A-Za-z0-9_]+)/confirm", self._confirm_intent)
        self.route("POST", "/v1/refunds", self._create_refund)
        self.route_pattern("GET", r"/v1/refunds/([A-Za-z0-9_]+)", self._get_refund)

    # ------------------------------------------------------------------ seller side

    def open_account(self, site: str | None = None) -> dict[str, str]:
        """A Stripe account in test mode; returns the credentials a PaymentAccount holds
        (``site`` is accepted for the kit's handles and ignored)."""
        account = _Account(f"sk_test_{secrets.token_hex(12)}", f"whsec_{secrets.token_hex(16)}")
        self.accounts[account.secret_key] = account
        return {"secret_key": account.secret_key, "webhook_secret": account.webhook_secret}

    def intent(self, credentials: Mapping[str, str], intent_id: str) -> dict[str, Any]:
        return self.accounts[credentials["secret_key"]].intents[intent_id]

    def charges(self, credentials: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every charge ever made on the account (one per successful or failed attempt)."""
        return list(self.accounts[credentials["secret_key"]].charges.values())

    def events(self, credentials: Mapping[str, str], type_: str | None = None) -> list[dict[str, Any]]:
        events = self.accounts[credentials["secret_key"]].events
        return [e for e in events if type_ is None or e["type"] == type_]

    def complete(
        self, credentials: Mapping[str, str], intent_id: str, *, succeed: bool = True
    ) -> dict[str, Any]:
        """The buyer finishes (or abandons) the redirect, 3-D Secure, voucher or QR payment."""
        account = self.accounts[credentials["secret_key"]]
        intent = account.intents[intent_id]
        if intent["status"] not in ("requires_action", "processing"):
            raise ValueError(f"{intent_id} is {intent['status']}, nothing to complete")
        account.pending.pop(intent_id, None)
        if succeed:
            self._succeed(account, intent)
        else:
            self._fail(
                account, intent, "payment_intent_authentication_failure", None, "The buyer did not finish."
            )
        return intent

    def refunds(self, credentials: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every refund made on the account, oldest first."""
        return list(self.accounts[credentials["secret_key"]].refunds.values())

    def fail_refund(
        self, credentials: Mapping[str, str], refund_id: str, reason: str = "expired_or_canceled_card"
    ) -> dict[str, Any]:
        """The buyer's bank returns a refund Stripe had sent (a closed card account): the
        refund becomes ``failed`` with a ``failure_reason``, the money is back on the charge,
        and ``refund.updated`` and ``refund.failed`` are recorded."""
        account = self.accounts[credentials["secret_key"]]
        refund = account.refunds[refund_id]
        if refund["status"] != "succeeded":
            raise ValueError(f"{refund_id} is {refund['status']}, it cannot fail now")
        refund.update(status="failed", failure_reason=reason)
        charge = account.charges[refund["charge"]]
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        self._event(account, "refund.updated", refund)
        self._event(account, "refund.failed", refund)
        return refund

    def sign(self, secret: str, payload: str, timestamp: int | None = None) -> str:
        """A ``Stripe-Signature`` header value for ``payload``."""
        stamp = int(time.time()) if timestamp is None else timestamp
        digest = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
        return f"t={stamp},v1={digest}"

    def signed_webhook(
        self, credentials: Mapping[str, str], event: Mapping[str, Any], *, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body Stripe POSTs to a webhook endpoint for ``event``."""
        account = self.accounts[credentials["secret_key"]]
        payload = json.dumps(event, indent=2)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": self.sign(account.webhook_secret, payload, timestamp),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        return headers, payload.encode()

    async def deliver(self, credentials: Mapping[str, str], event: Mapping[str, Any], url: str) -> int:
        """POST ``event``, signed, to ``url``; returns the HTTP status the endpoint answered."""
        import httpx

        headers, body = self.signed_webhook(credentials, event)
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(url, content=body, headers=headers)
        return response.status_code

    # ------------------------------------------------------------------ envelope

    def error_body(self, status: int, code: str, message: str) -> Any:
        if status == 429:
            return {"error": {"type": "invalid_request_error", "code": "rate_limit", "message": message}}
        if status >= 500:
            return {"error": {"type": "api_error", "message": message}}
        return {"error": {"type": "invalid_request_error", "code": code, "message": message}}

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}{secrets.token_hex(6)}"

    def _account(self, request: Request) -> _Account:
        auth = request.headers.get("authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else ""
        account = self.accounts.get(key)
        if account is None:
            shown = f"{key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}" if key else ""
            raise StripeFailure(401, "invalid_request_error", f"Invalid API Key provided: {shown}")
        return account

    async def _serve(self, request: Request, handler: Any) -> Reply:
        """Authentication, idempotent replay and the error envelope around one handler."""
        try:
            account = self._account(request)
            params = decode_form(request.body) if request.method == "POST" else dict(request.query)
            key = request.headers.get("idempotency-key")
            if request.method == "POST" and key:
                seen = account.replays.get(key)
                if seen is not None:
                    method, path, old_params, status, body = seen
                    if (method, path, old_params) != (request.method, request.path, params):
                        raise StripeFailure(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters "
                            "they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request.",
                        )
                    return Reply(
                        status, body, {"Idempotent-Replayed": "true", "Request-Id": self._new_id("req")}
                    )
            self.executed[request.path] = self.executed.get(request.path, 0) + 1
            try:
                status, body = 200, _public(await handler(account, request, params))
            except StripeFailure as failure:
                status, body = failure.status, _public({"error": failure.body})
            if request.method == "POST" and key and status != 401 and status < 500:
                account.replays[key] = (request.method, request.path, params, status, body)
            return Reply(status, body, {"Request-Id": self._new_id("req")})
        except StripeFailure as failure:
            return Reply(failure.status, {"error": failure.body}, {"Request-Id": self._new_id("req")})

    # ------------------------------------------------------------------ handlers

    async def _create_intent(self, request: Request) -> Reply:
        return await self._serve(request, self._do_create_intent)

    async def _get_intent(self, request: Request) -> Reply:
        intent_id = request.args[0]

        async def get(account: _Account, _: Request, __: Any) -> Any:
            return self._find_intent(account, intent_id)

        return await self._serve(request, get)

    async def _confirm_intent(self, request: Request) -> Reply:
        intent_id = request.args[0]

        async def confirm(account: _Account, req: Request, params: Any) -> Any:
            intent = self._find_intent(account, intent_id)
            if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
                raise StripeFailure(
                    400,
                    "invalid_request_error",
                    f"This PaymentIntent's status is {intent['status']}, it cannot be confirmed.",
                    code="payment_intent_unexpected_state",
                )
            self._apply(intent, params)
            return self._confirm(account, intent, req)

        return await self._serve(request, confirm)

    async def _create_refund(self, request: Request) -> Reply:
        return await self._serve(request, self._do_create_refund)

    async def _get_refund(self, request: Request) -> Reply:
        refund_id = request.args[0]

        async def get(account: _Account, _: Request, __: Any) -> Any:
            refund = account.refunds.get(refund_id)
            if refund is None:
                raise StripeFailure(
                    404, "invalid_request_error", f"No such refund: '{refund_id}'", code="resource_missing"
                )
            return refund

        return await self._serve(request, get)

    # ------------------------------------------------------------------ payment intents

    def _find_intent(self, account: _Account, intent_id: str) -> dict[str, Any]:
        intent = account.intents.get(intent_id)
        if intent is None:
            raise StripeFailure(
                404,
                "invalid_request_error",
                f"No such payment_intent: '{intent_id}'",
                code="resource_missing",
                param="intent",
            )
        return intent

    async def _do_create_intent(self, account: _Account, request: Request, params: dict[str, Any]) -> Any:
        amount = _integer(params.get("amount"), "amount")
        currency = params.get("currency")
        if not currency:
            raise StripeFailure(
                400, "invalid_request_error", "Missing required param: currency.", param="currency"
            )
        if amount < 1:
            raise StripeFailure(
                400,
                "invalid_request_error",
                "Amount must be at least 1.",
                code="amount_too_small",
                param="amount",
            )
        if currency.upper() in STRIPE_THREE_DECIMAL and amount % 10:
            raise StripeFailure(
                400,
                "invalid_request_error",
                f"Amounts in {currency} must end in 0.",
                code="invalid_charge_amount",
                param="amount",
            )
        if currency.upper() == "ISK" and amount % 100:
            raise StripeFailure(
                400,
                "invalid_request_error",
                "Currency ISK has become effectively zero-decimal and charged amounts must be evenly "
                "divisible by 100.",
                code="invalid_charge_amount_no_decimal_compatible",
                param="amount",
            )
        types = params.get("payment_method_types") or ["card"]
        intent_id = self._new_id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": currency.lower(),
            "status": "requires_payment_method",
            "payment_method_types": types,
            "payment_method": None,
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "created": int(time.time()),
            "description": params.get("description"),
            "metadata": params.get("metadata") or {},
            "receipt_email": params.get("receipt_email"),
            "return_url": None,
            "next_action": None,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
        }
        self._apply(intent, params)
        account.intents[intent_id] = intent
        if params.get("confirm") == "true":
            return self._confirm(account, intent, request)
        return intent

    def _apply(self, intent: dict[str, Any], params: Mapping[str, Any]) -> None:
        if params.get("payment_method"):
            intent["payment_method"] = params["payment_method"]
        data = params.get("payment_method_data")
        if isinstance(data, dict):
            kind = data.get("type")
            if kind not in intent["payment_method_types"]:
                raise StripeFailure(
                    400,
                    "invalid_request_error",
                    f"The payment method type {kind!r} is not in this PaymentIntent's payment_method_types.",
                    param="payment_method_data[type]",
                )
            intent["payment_method"] = self._new_id("pm")
            intent["_payment_method_data"] = data
        if params.get("return_url"):
            intent["return_url"] = params["return_url"]
        if intent["payment_method"] and intent["status"] == "requires_payment_method":
            intent["status"] = "requires_confirmation"

    def _outcome(self, intent: dict[str, Any]) -> tuple[str, str]:
        """(payment method type, outcome) of the intent's payment method."""
        data = intent.get("_payment_method_data")
        if data:
            kind = data.get("type", "")
            if kind == "card":
                number = str((data.get("card") or {}).get("number", ""))
                if number not in TEST_CARD_NUMBERS:
                    raise StripeFailure(
                        402,
                        "card_error",
                        "Your card number is incorrect.",
                        code="incorrect_number",
                        param="number",
                    )
                return "card", TEST_CARD_NUMBERS[number]
            return kind, "local"
        pm = str(intent.get("payment_method") or "")
        if pm in TEST_PAYMENT_METHODS:
            return "card", TEST_PAYMENT_METHODS[pm]
        raise StripeFailure(
            400,
            "invalid_request_error",
            f"No such PaymentMethod: '{pm}'",
            code="resource_missing",
            param="payment_method",
        )

    def _confirm(self, account: _Account, intent: dict[str, Any], request: Request) -> dict[str, Any]:
        if not intent.get("payment_method"):
            raise StripeFailure(
                400,
                "invalid_request_error",
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        kind, outcome = self._outcome(intent)
        if kind not in intent["payment_method_types"]:
            raise StripeFailure(
                400,
                "invalid_request_error",
                f"The PaymentMethod's type {kind!r} is not allowed for this PaymentIntent.",
                param="payment_method",
            )
        base = f"http://{request.headers.get('host', 'stripe.emulator')}"
        if outcome == SUCCEED:
            self._succeed(account, intent)
        elif outcome in (DECLINE, INSUFFICIENT):
            decline = "generic_decline" if outcome == DECLINE else "insufficient_funds"
            message = "Your card was declined." if outcome == DECLINE else "Your card has insufficient funds."
            self._fail(account, intent, "card_declined", decline, message)
            raise StripeFailure(
                402,
                "card_error",
                message,
                code="card_declined",
                decline_code=decline,
                payment_intent=intent,
                charge=intent["latest_charge"],
            )
        elif outcome == THREE_DS:
            intent["status"] = "requires_action"
            if intent.get("return_url"):
                intent["next_action"] = _redirect(base, intent, "authenticate")
            else:
                intent["next_action"] = {
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {
                        "type": "three_d_secure_redirect",
                        "stripe_js": f"{base}/3ds/{intent['id']}",
                    },
                }
        else:
            self._local_action(intent, kind, base)
        return intent

    def _local_action(self, intent: dict[str, Any], kind: str, base: str) -> None:
        now = int(time.time())
        intent["status"] = "requires_action"
        if kind in REDIRECT_TYPES:
            if not intent.get("return_url"):
                raise StripeFailure(
                    400,
                    "invalid_request_error",
                    f"A return_url must be specified because this Payment Intent is configured to "
                    f"automatically accept the payment methods enabled, including {kind}.",
                    param="return_url",
                )
            intent["next_action"] = _redirect(base, intent, kind)
        elif kind in VOUCHER_TYPES:
            details: dict[str, Any] = {"hosted_voucher_url": f"{base}/vouchers/{intent['id']}"}
            if kind == "boleto":
                details.update(number=f"{secrets.randbelow(10**47):047d}", expires_at=now + 3 * 86400)
            elif kind == "oxxo":
                details.update(number=f"{secrets.randbelow(10**18):018d}", expires_after=now + 3 * 86400)
            else:
                details.update(expires_at=now + 3 * 86400)
            intent["next_action"] = {"type": f"{kind}_display_details", f"{kind}_display_details": details}
        else:
            intent["next_action"] = {
                "type": f"{kind}_display_qr_code",
                f"{kind}_display_qr_code": {
                    "data": f"00020101021226{intent['id']}",
                    "image_url_png": f"{base}/qr/{intent['id']}.png",
                    "hosted_instructions_url": f"{base}/qr/{intent['id']}",
                },
            }

    def _charge(self, account: _Account, intent: dict[str, Any], status: str) -> dict[str, Any]:
        charge = {
            "id": self._new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"] if status == "succeeded" else 0,
            "amount_refunded": 0,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "paid": status == "succeeded",
            "refunded": False,
            "status": status,
            "created": int(time.time()),
            "metadata": intent["metadata"],
        }
        account.charges[charge["id"]] = charge
        intent["latest_charge"] = charge["id"]
        return charge

    def _succeed(self, account: _Account, intent: dict[str, Any]) -> None:
        self._charge(account, intent, "succeeded")
        intent.update(
            status="succeeded", amount_received=intent["amount"], next_action=None, last_payment_error=None
        )
        self._event(account, "payment_intent.succeeded", intent)

    def _fail(
        self, account: _Account, intent: dict[str, Any], code: str, decline: str | None, message: str
    ) -> None:
        self._charge(account, intent, "failed")
        intent.update(
            status="requires_payment_method",
            next_action=None,
            last_payment_error={
                "type": "card_error",
                "code": code,
                "decline_code": decline,
                "message": message,
                "payment_method": {"id": intent["payment_method"]},
            },
        )
        self._event(account, "payment_intent.payment_failed", intent)

    def _event(self, account: _Account, type_: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        event = {
            "id": self._new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "type": type_,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": _public(obj)},
        }
        account.events.append(event)
        return event

    # ------------------------------------------------------------------ refunds

    async def _do_create_refund(self, account: _Account, request: Request, params: dict[str, Any]) -> Any:
        intent_id = params.get("payment_intent")
        charge_id = params.get("charge")
        if intent_id:
            intent = self._find_intent(account, intent_id)
            charge_id = intent.get("latest_charge") if intent["status"] == "succeeded" else None
            if charge_id is None:
                raise StripeFailure(
                    400,
                    "invalid_request_error",
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                    code="charge_not_refundable",
                    param="payment_intent",
                )
        charge = account.charges.get(charge_id or "")
        if charge is None:
            raise StripeFailure(
                400,
                "invalid_request_error",
                "One of payment_intent or charge is required.",
                param="payment_intent",
            )
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeFailure(
                400,
                "invalid_request_error",
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = _integer(params["amount"], "amount") if "amount" in params else remaining
        if amount < 1 or amount > remaining:
            raise StripeFailure(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                param="amount",
            )
        refund = {
            "id": self._new_id("re"),
            "object": "refund",
            "amount": amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "reason": params.get("reason"),
            "metadata": params.get("metadata") or {},
            "status": "succeeded",
            "created": int(time.time()),
        }
        account.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        self._event(account, "refund.created", refund)
        self._event(account, "charge.refunded", charge)
        return refund


def _integer(value: Any, param: str) -> int:
    if value is None:
        raise StripeFailure(400, "invalid_request_error", f"Missing required param: {param}.", param=param)
    if not re.fullmatch(r"-?\d+", str(value)):
        raise StripeFailure(400, "invalid_request_error", f"Invalid integer: {value}", param=param)
    return int(value)


def _redirect(base: str, intent: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {
        "type": "redirect_to_url",
        "redirect_to_url": {
            "url": f"{base}/redirect/{kind}/{intent['id']}",
            "return_url": intent.get("return_url"),
        },
    }


def _public(obj: Any) -> Any:
    """A deep copy without the emulator's private keys (those starting with ``_``)."""
    if isinstance(obj, Mapping):
        return {k: _public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [_public(v) for v in obj]
    return obj
