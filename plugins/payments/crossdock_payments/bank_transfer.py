"""Bank transfer: the buyer pays into the seller's account with a reference we can match.

Account settings list the seller's bank details per currency::

    {"accounts": {
        "EUR": {"iban": "NL91ABNA0417164300", "bic": "ABNANL2A", "holder": "Shop B.V."},
        "SGD": {"bank": "DBS Bank", "account_number": "0123456789", "swift": "DBSSSGSG",
                "holder": "Shop Pte Ltd"}}}

Bank transfer is offered for exactly those currencies. IBANs (and BIC/SWIFT codes) are checked
with python-stdnum; a bad one is refused with ``ChannelError(code="INVALID_BANK_DETAILS")``
when methods are listed or a payment is created, so a typo never reaches a buyer.

The transfer reference is an ISO 11649 structured creditor reference ("RF" + two check
digits + body): banks in SEPA countries recognise and validate it, and anywhere else its
check digits still catch a mistyped reference. The body is ten digits derived from
``request.reference``, so a retried request gets the same reference. Digits only, on purpose:
with letters (which count as two digits in the mod-97 check) a letter typed for a digit can
slip through; with digits every single wrong digit and every swap of neighbours is caught.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError

from crossdock import (
    ChannelError,
    Money,
    Payment,
    PaymentAccount,
    PaymentBase,
    PaymentCapability,
    PaymentMethodOption,
    PaymentRequest,
    PaymentStatus,
)
from crossdock_payments import __version__

__all__ = ["BankTransfer", "transfer_reference", "valid_reference"]

_BODY_DIGITS = 10


def _mod97(text: str) -> int:
    # letters count as 10..35 (A=10), as in IBAN and ISO 11649
    return int("".join(str(int(ch, 36)) for ch in text)) % 97


def transfer_reference(reference: str) -> str:
    """The RF creditor reference for a payment reference, compact (``RF471234567890``)."""
    number = int.from_bytes(hashlib.sha256(reference.encode()).digest(), "big")
    body = f"{number % 10**_BODY_DIGITS:0{_BODY_DIGITS}d}"
    check = 98 - _mod97(f"{body}RF00")
    return f"RF{check:02d}{body}"


def valid_reference(text: str) -> bool:
    """Whether a reference as a buyer typed it (any spacing or case) has valid check digits."""
    compact = "".join(text.split()).upper()
    return (
        len(compact) > 4
        and compact.startswith("RF")
        and compact.isalnum()
        and _mod97(compact[4:] + compact[:4]) == 1
    )


def _grouped(text: str) -> str:
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def _bank_details(settings: Mapping[str, Any], currency: str) -> dict[str, str] | None:
    """The validated bank details for ``currency``, or None if the seller has none."""
    accounts = settings.get("accounts") or {}
    details = accounts.get(currency)
    if details is None:
        return None
    if not isinstance(details, Mapping) or not details.get("holder"):
        raise ChannelError(
            f"bank account for {currency} needs at least a holder", code="INVALID_BANK_DETAILS"
        )
    clean: dict[str, str] = {k: str(v) for k, v in details.items()}
    if "iban" in details:
        try:
            clean["iban"] = stdnum_iban.validate(str(details["iban"]))
        except ValidationError as exc:
            raise ChannelError(
                f"bank account for {currency}: IBAN {details['iban']!r} is not valid ({exc})",
                code="INVALID_BANK_DETAILS",
            ) from None
    elif not details.get("account_number"):
        raise ChannelError(
            f"bank account for {currency} needs an iban or an account_number", code="INVALID_BANK_DETAILS"
        )
    for key in ("bic", "swift"):
        if key in details:
            try:
                clean[key] = stdnum_bic.validate(str(details[key]))
            except ValidationError as exc:
                raise ChannelError(
                    f"bank account for {currency}: {key.upper()} {details[key]!r} is not valid ({exc})",
                    code="INVALID_BANK_DETAILS",
                ) from None
    return clean


class BankTransfer(PaymentBase):
    name = "bank_transfer"
    display_name = "Bank transfer"
    version = __version__
    capabilities: frozenset[str] = frozenset({PaymentCapability.METHODS, PaymentCapability.CHARGE})

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        #: defaults for every account (same shape as an account's settings)
        self.settings: Mapping[str, Any] = settings or {}

    def _settings(self, account: PaymentAccount | None) -> Mapping[str, Any]:
        accounts = {**(self.settings.get("accounts") or {})}
        if account is not None:
            accounts.update(account.settings.get("accounts") or {})
        return {"accounts": accounts}

    def payment_methods(
        self, country: str, amount: Money, account: PaymentAccount | None = None
    ) -> Sequence[PaymentMethodOption]:
        """Offered in the currencies the account (or the provider-wide settings) has bank
        details for."""
        if amount.amount <= 0 or _bank_details(self._settings(account), amount.currency) is None:
            return ()
        return (PaymentMethodOption(self.name, "bank_transfer", "Bank transfer", 80),)

    async def create_payment(self, account: PaymentAccount, request: PaymentRequest) -> Payment:
        if request.method != "bank_transfer":
            raise ChannelError(f"bank transfer has no method {request.method!r}", code="UNSUPPORTED_METHOD")
        details = _bank_details(self._settings(account), request.amount.currency)
        if details is None:
            raise ChannelError(
                f"no bank account for {request.amount.currency} in this account's settings",
                code="METHOD_NOT_AVAILABLE",
            )
        reference = transfer_reference(request.reference)
        amount = request.amount.rounded()
        bank = dict(details)
        if "iban" in bank:
            bank["iban_display"] = _grouped(bank["iban"])
        return Payment(
            provider_reference=reference,
            status=PaymentStatus.AWAITING_TRANSFER,
            amount=request.amount,
            method="bank_transfer",
            next_action={
                "type": "bank_transfer",
                "reference": reference,
                "reference_display": _grouped(reference),
                "amount": {"amount": str(amount.amount), "currency": amount.currency},
                "bank": bank,
            },
            raw={"payment_reference": request.reference},
        )
