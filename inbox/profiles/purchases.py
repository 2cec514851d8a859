"""A purchase as given (API, CSV), checked before it is stored."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from inbox.errors import BadRequest
from inbox.models import Purchase


@dataclass(frozen=True)
class PurchaseIn:
    reference: str
    amount: float
    currency: str
    description: str = ""
    status: str = "completed"
    purchased_at: datetime | None = None


def check_purchase(p: PurchaseIn) -> PurchaseIn:
    """The purchase cleaned up, or BadRequest saying what is wrong with it."""
    reference, currency, status = p.reference.strip(), p.currency.strip(), p.status.strip()
    if not reference:
        raise BadRequest("a purchase needs a reference")
    if len(reference) > 100:
        raise BadRequest("a purchase reference is at most 100 characters")
    if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
        raise BadRequest("currency must be a three-letter ISO 4217 code")
    if not math.isfinite(p.amount) or abs(p.amount) >= 10**10:
        raise BadRequest("amount must be a number below 10,000,000,000")
    if len(p.description) > 500:
        raise BadRequest("a purchase description is at most 500 characters")
    if not status or len(status) > 32:
        raise BadRequest("a purchase status is 1 to 32 characters")
    if p.purchased_at is not None and p.purchased_at.tzinfo is None:
        raise BadRequest("purchased_at needs a time zone (e.g. Z or +01:00)")
    return PurchaseIn(
        reference,
        round(p.amount, 2),
        currency.upper(),
        p.description.strip(),
        status,
        p.purchased_at,
    )


def same_purchase(row: Purchase, p: PurchaseIn) -> bool:
    """Whether `p` repeats what `row` holds (a time left out matches any)."""
    return (
        round(row.amount, 2) == p.amount
        and row.currency == p.currency
        and row.description == p.description
        and row.status == p.status
        and (p.purchased_at is None or row.purchased_at == p.purchased_at)
    )
