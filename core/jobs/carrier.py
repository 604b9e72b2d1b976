"""The plumbing around every call to a carrier, in one place (as :mod:`.channel` is for
marketplaces).

:func:`buy_once` is how a label is bought: a transient failure (a timeout, a 5xx, a
throttle) may hide a label the carrier did create, so before buying again the carrier is
asked for the label of the same reference (:meth:`CarrierProvider.find_label`). A label is
therefore never bought twice for one reference, however the calls fail.
"""

from __future__ import annotations

import asyncio
import random

from crossdock.errors import ChannelError
from crossdock.providers import CarrierAccount, CarrierProvider, Label, ShipmentRequest

__all__ = ["buy_once"]


async def buy_once(
    provider: CarrierProvider,
    account: CarrierAccount,
    request: ShipmentRequest,
    service: str,
    *,
    resume: bool = False,
    attempts: int = 5,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
) -> Label:
    """Buy the label for ``request.reference``, or find the one an earlier try bought.

    Permanent refusals (``REFUSED``, bad credentials) are raised at once; transient ones are
    retried up to ``attempts`` times with backoff, each retry preceded by a look-up. The
    last transient error is raised when every try failed: the caller keeps the purchase
    open and a later :func:`buy_once` with the same reference (``resume=True``: look first)
    resumes it.
    """
    uncertain = resume  # an earlier try may have bought the label
    for attempt in range(1, attempts + 1):
        try:
            if uncertain:
                found = await provider.find_label(account, request)
                if found is not None:
                    return found
            return await provider.buy_label(account, request, service)
        except ChannelError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            uncertain = True
            delay = exc.retry_after if exc.retry_after is not None else base_delay * 2 ** (attempt - 1)
            await asyncio.sleep(min(max_delay, delay) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")
