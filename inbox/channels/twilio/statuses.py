"""Twilio's status callbacks for messages we sent, as delivery receipts.

https://www.twilio.com/docs/messaging/guides/track-outbound-message-status:
`MessageSid` names the message, `MessageStatus` is one of queued, sending,
sent, delivered, read (RCS/WhatsApp), undelivered or failed, and a failure
carries `ErrorCode` (30003: unreachable handset, …).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from inbox.channels.receipts import Receipt, Receipts
from inbox.models import Delivery

_STATUSES = {
    "sent": Delivery.SENT,
    "delivered": Delivery.DELIVERED,
    "read": Delivery.READ,
    "undelivered": Delivery.FAILED,
    "failed": Delivery.FAILED,
}
# The common reasons, in Twilio's words; others are named by their code.
_ERRORS = {
    "21211": "invalid 'To' phone number",
    "21408": "no permission to send to this region",
    "21610": "the recipient has opted out (STOP)",
    "21614": "the number is not a mobile number",
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier",
    "30008": "unknown error",
}


class StatusCallback(BaseModel):
    model_config = ConfigDict(extra="ignore")

    MessageSid: Annotated[str, Field(min_length=1, max_length=500)]
    MessageStatus: Annotated[str, Field(min_length=1, max_length=32)]
    ErrorCode: str = ""


def status_receipts(params: Sequence[tuple[str, str]]) -> Receipts:
    """The callback's receipt; none for queued, accepted and sending (not news)."""
    callback = StatusCallback.model_validate(dict(params))
    delivery = _STATUSES.get(callback.MessageStatus.lower())
    if delivery is None:
        return []
    error = None
    if delivery is Delivery.FAILED:
        code = callback.ErrorCode.strip()
        words = _ERRORS.get(code, f"error {code}" if code else "no reason given")
        error = f"the SMS was not delivered: {words}" + (
            f" (Twilio error {code})" if code in _ERRORS else ""
        )
    return [Receipt(callback.MessageSid, delivery, error)]
