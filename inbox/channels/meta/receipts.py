"""Delivery receipts in Meta's webhooks, as `inbox.channels.receipts` values.

- WhatsApp: `entry[].changes[].value.statuses[]`, each naming our message's
  `id` (`wamid.…`) and its `status`: sent, delivered, read, or failed with
  `errors[]` (code, title, message, `error_data.details`).
- Messenger: `entry[].messaging[]` events with `delivery` (`mids`, and a
  `watermark`: everything sent before it was delivered) or `read`
  (`watermark`: everything sent before it was read), from the customer.
- Instagram: `read` with the `mid` of the newest message seen: everything
  sent before the event was read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from inbox.channels.provider_send import clean_reason
from inbox.channels.receipts import Receipt, Receipts, Watermark
from inbox.models import ChannelKind, Delivery, IdentityKind

_WA_STATUSES = {
    "sent": Delivery.SENT,
    "delivered": Delivery.DELIVERED,
    "read": Delivery.READ,
    "failed": Delivery.FAILED,
}


class _Provider(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WaError(_Provider):
    code: int | None = None
    title: str = ""
    message: str = ""
    error_data: dict[str, Any] | None = None


class WaStatus(_Provider):
    id: str
    status: str
    errors: list[WaError] = []


class WaValue(_Provider):
    statuses: list[WaStatus] = []


class WaChange(_Provider):
    field: str
    value: WaValue


class WaEntry(_Provider):
    changes: list[WaChange] = []


class WaStatuses(_Provider):
    entry: list[WaEntry] = []


def _wa_reason(errors: list[WaError]) -> str:
    if not errors:
        return "WhatsApp could not deliver it"
    first = errors[0]
    details = (first.error_data or {}).get("details")
    words = str(details or first.message or first.title or "no reason given")
    code = f" [code {first.code}]" if first.code is not None else ""
    return f"WhatsApp could not deliver it: {clean_reason(words)}{code}"


def whatsapp_receipts(data: Any) -> Receipts:
    found: Receipts = []
    for entry in WaStatuses.model_validate(data).entry:
        for change in entry.changes:
            if change.field != "messages":
                continue
            for status in change.value.statuses:
                delivery = _WA_STATUSES.get(status.status)
                if delivery is None:  # "deleted", "warning", …: not a delivery state
                    continue
                error = _wa_reason(status.errors) if delivery is Delivery.FAILED else None
                found.append(Receipt(status.id, delivery, error))
    return found


class PageDelivery(_Provider):
    mids: list[str] = []
    watermark: int | None = None


class PageRead(_Provider):
    watermark: int | None = None
    mid: str | None = None


class PageParty(_Provider):
    id: str


class PageEvent(_Provider):
    sender: PageParty
    timestamp: int = 0
    delivery: PageDelivery | None = None
    read: PageRead | None = None


class PageEntry(_Provider):
    messaging: list[PageEvent] = []


class PageReceipts(_Provider):
    entry: list[PageEntry] = []


def _at(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def page_receipts(kind: ChannelKind, data: Any) -> Receipts:
    """Messenger's or Instagram's receipts (`kind` says which)."""
    identity = IdentityKind.MESSENGER if kind is ChannelKind.MESSENGER else IdentityKind.INSTAGRAM
    found: Receipts = []
    for entry in PageReceipts.model_validate(data).entry:
        for event in entry.messaging:
            customer = event.sender.id
            if event.delivery is not None:
                found.extend(Receipt(mid, Delivery.DELIVERED) for mid in event.delivery.mids)
                if event.delivery.watermark:
                    found.append(
                        Watermark(
                            identity, customer, Delivery.DELIVERED, _at(event.delivery.watermark)
                        )
                    )
            if event.read is not None:
                # Messenger gives a watermark; Instagram the newest mid seen, at the event's time.
                up_to = event.read.watermark or event.timestamp
                if up_to:
                    found.append(Watermark(identity, customer, Delivery.READ, _at(up_to)))
    return found
