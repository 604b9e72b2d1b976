"""Cash on delivery: the carrier collects cash at the door and remits it to the seller.

Where it is offered, and up to how much (in the local currency; above the ceiling COD is not
offered, since couriers cap the cash a rider carries and unpaid high-value COD parcels are the
costliest returns):

=======  ========  =============  ====================================================
country  currency  default limit  note
=======  ========  =============  ====================================================
SG       SGD       300            offered by the big couriers, far less common than cards/PayNow
MY       MYR       1,500          common on marketplaces (Shopee, Lazada)
TH       THB       20,000         common; Kerry/Flash/J&T collect
PH       PHP       50,000         the dominant e-commerce method
VN       VND       20,000,000     the dominant e-commerce method
ID       IDR       5,000,000      very common on marketplaces
IN       INR       50,000         very common; cash receipts of INR 200,000+ are illegal (s. 269ST)
AE       AED       5,000          common
SA       SAR       5,000          common, declining with Mada/Apple Pay
KW       KWD       300            common
EG       EGP       10,000         the dominant e-commerce method
MX       MXN       5,000          "pago contra entrega", offered by several couriers
=======  ========  =============  ====================================================

Not offered in BR: Boleto and Pix fill the cash role there and couriers rarely collect.

UNCONFIRMED: the ceilings are conservative defaults from courier terms as commonly published,
not read from a single authoritative source; a seller sets their own in the account settings
``{"limits": {"MY": "2500", "BR": "1000"}}`` (a country not in the table becomes offered;
``"0"`` switches a country off).

Collection is reported by the carrier as a remittance report: a JSON list of
``{"tracking_number", "order_reference", "collected": {"amount", "currency"}, "collected_at"}``
POSTed with ``X-Crossdock-Signature: hex(HMAC-SHA256(remittance_secret, body))``. The
``order_reference`` is the payment's reference (the ``PaymentRequest.reference`` the seller
passed, which is also this payment's ``provider_reference``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

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
)
from crossdock_payments import __version__

__all__ = ["COD_LIMITS", "CashOnDelivery", "remittance_signature"]

D = Decimal

#: country -> (currency, default ceiling in that currency)
COD_LIMITS: Mapping[str, tuple[str, Decimal]] = {
    "SG": ("SGD", D("300")),
    "MY": ("MYR", D("1500")),
    "TH": ("THB", D("20000")),
    "PH": ("PHP", D("50000")),
    "VN": ("VND", D("20000000")),
    "ID": ("IDR", D("5000000")),
    "IN": ("INR", D("50000")),
    "AE": ("AED", D("5000")),
    "SA": ("SAR", D("5000")),
    "KW": ("KWD", D("300")),
    "EG": ("EGP", D("10000")),
    "MX": ("MXN", D("5000")),
}
#: where COD is how most online orders are paid: shown before cards
COD_DOMINANT = frozenset({"PH", "VN", "ID", "IN", "EG"})
#: currency of a country that is not in the table but switched on by a seller's limit
_EXTRA_CURRENCIES = {"BR": "BRL", "PK": "PKR", "QA": "QAR", "OM": "OMR", "BH": "BHD", "JO": "JOD"}

SIGNATURE_HEADER = "x-crossdock-signature"


def remittance_signature(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 a carrier puts in ``X-Crossdock-Signature``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class CashOnDelivery(PaymentBase):
    name = "cod"
    display_name = "Cash on delivery"
    version = __version__
    capabilities: frozenset[str] = frozenset(
        {PaymentCapability.METHODS, PaymentCapability.CHARGE, PaymentCapability.WEBHOOKS}
    )

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        #: defaults for every account (same shape as an account's settings)
        self.settings: Mapping[str, Any] = settings or {}

    # ------------------------------------------------------------------ limits

    def limit(self, country: str, settings: Mapping[str, Any] | None = None) -> Money | None:
        """The COD ceiling for ``country`` (None: COD not offered there)."""
        country = country.upper()
        overrides = {**(self.settings.get("limits") or {}), **((settings or {}).get("limits") or {})}
        currency, ceiling = COD_LIMITS.get(country, (_EXTRA_CURRENCIES.get(country, ""), None))
        if country in overrides:
            try:
                ceiling = Decimal(str(overrides[country]))
            except InvalidOperation:
                raise ChannelError(
                    f"COD limit for {country} is not a number: {overrides[country]!r}", code="SETTINGS"
                ) from None
        if ceiling is None or ceiling <= 0 or not currency:
            return None
        return Money(ceiling, currency)

    def payment_methods(
        self, country: str, amount: Money, account: PaymentAccount | None = None
    ) -> Sequence[PaymentMethodOption]:
        """Cash on delivery where it is common, up to the country's limit (the account's
        overrides applied)."""
        ceiling = self.limit(country, account.settings if account else None)
        if ceiling is None or amount.currency != ceiling.currency:
            return ()
        if amount.amount <= 0 or amount.amount > ceiling.amount:
            return ()
        rank = 5 if country.upper() in COD_DOMINANT else 60
        return (PaymentMethodOption(self.name, "cod", "Cash on delivery", rank),)

    # ------------------------------------------------------------------ operations

    async def create_payment(self, account: PaymentAccount, request: PaymentRequest) -> Payment:
        if request.method != "cod":
            raise ChannelError(
                f"cash on delivery has no method {request.method!r}", code="UNSUPPORTED_METHOD"
            )
        if not self.payment_methods(request.country, request.amount, account):
            ceiling = self.limit(request.country, account.settings)
            why = f"up to {ceiling}" if ceiling is not None else f"not offered in {request.country.upper()}"
            raise ChannelError(
                f"cash on delivery of {request.amount} to {request.country.upper()} is not available ({why})",
                code="METHOD_NOT_AVAILABLE",
            )
        collect = request.amount.rounded()
        return Payment(
            provider_reference=request.reference,
            status=PaymentStatus.AWAITING_COLLECTION,
            amount=request.amount,
            method="cod",
            next_action={
                "type": "cash_on_delivery",
                "collect": {"amount": str(collect.amount), "currency": collect.currency},
            },
        )

    def parse_webhook(
        self, account: PaymentAccount, headers: Mapping[str, str], body: bytes
    ) -> Sequence[PaymentEvent]:
        secret = account.credentials.get("remittance_secret")
        if not isinstance(secret, str) or not secret:
            raise ChannelError("the COD account has no 'remittance_secret' credential", code="CREDENTIALS")
        given = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER, "")
        expected = remittance_signature(secret, body)
        if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
            raise ChannelError("remittance report signature does not match", code="SIGNATURE")
        try:
            lines = json.loads(body, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:  # invalid UTF-8 and nesting too deep included
            raise ChannelError(f"remittance report is not JSON: {exc}", code="MALFORMED") from None
        if not isinstance(lines, list):
            raise ChannelError("a remittance report is a JSON list of lines", code="MALFORMED")
        return [self._event(index, line) for index, line in enumerate(lines)]

    def _event(self, index: int, line: Any) -> PaymentEvent:
        try:
            tracking = str(line["tracking_number"]).strip()
            reference = str(line["order_reference"]).strip()
            collected = line["collected"]
            amount = collected["amount"]
            if isinstance(amount, bool) or not isinstance(amount, str | int | Decimal):
                raise ValueError(f"amount {amount!r}")
            money = Money.of(Decimal(str(amount)), str(collected["currency"]))
            collected_at = str(line["collected_at"])
            if not tracking or not reference:
                raise ValueError("empty tracking_number or order_reference")
        except (KeyError, TypeError, ValueError, InvalidOperation, CrossdockError) as exc:
            raise ChannelError(f"remittance line {index} is malformed: {exc}", code="MALFORMED") from None
        # stable per line: a report sent again (or overlapping the next one) yields the same ids
        digest = hashlib.sha256(f"{tracking}\n{reference}\n{collected_at}".encode()).hexdigest()[:24]
        return PaymentEvent(
            type="payment.collected",
            event_id=f"cod:{tracking}:{digest}",
            payment_reference=reference,
            amount=money,
            raw={**line, "collected": {"amount": str(money.amount), "currency": money.currency}},
        )
