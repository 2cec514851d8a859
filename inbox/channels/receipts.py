"""Delivery receipts, normalised: what a provider's webhook says became of our messages.

A webhook parses its provider's format into these and hands them to
`inbox.actions.delivery_status.do_apply_receipts`, as it hands messages to
ingest. Two shapes exist:

- `Receipt`: one message, by the id the provider gave it when we sent it
  (WhatsApp `statuses[]`, Messenger `delivery.mids`, Twilio's callbacks);
- `Watermark`: every message we sent one customer identity up to a moment
  (Messenger's and Instagram's `read`, and `delivery.watermark`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from inbox.models import Delivery, IdentityKind


@dataclass(frozen=True)
class Receipt:
    external_id: str
    delivery: Delivery
    # Why it failed, in the provider's words (safe to show); failures only.
    error: str | None = None


@dataclass(frozen=True)
class Watermark:
    kind: IdentityKind
    value: str  # the customer's id on the channel (PSID, IGSID)
    delivery: Delivery
    up_to: datetime


Receipts = list[Receipt | Watermark]
