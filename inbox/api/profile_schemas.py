"""Request and response shapes for the shared profile: fields, edits, purchases, metrics.

Kept beside `inbox.api.schemas` (whose base classes they use) so the profile
endpoints can grow without crowding the core schemas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from inbox.models import ChannelKind, FieldType, Status

from .schemas import CustomerOut, RequestBody, ResponseBody

Version = Annotated[int, Field(ge=1, le=2**31 - 1, description="The customer's `version` you saw.")]
Tag = Annotated[str, Field(min_length=1, max_length=64)]

# Requests ------------------------------------------------------------------


class FieldIn(RequestBody):
    key: str = Field(description="1 to 64 of a-z, 0-9 and _, starting with a letter.")
    label: str
    # Strict models take enum members only from Python; JSON sends the value.
    type: Annotated[FieldType, Field(strict=False)]
    options: list[str] = Field([], description="A choice field's allowed values, in order.")


class FieldUpdateIn(RequestBody):
    label: str | None = None
    options: list[str] | None = Field(None, description="Only for a choice field.")


class EditProfileIn(RequestBody):
    """Change the name and/or attributes of the customer as you saw it at `version`."""

    version: Version
    name: str | None = Field(None, max_length=200)
    attributes: dict[str, Any] = Field(
        {},
        description="Field key to its new value, checked against the field's type "
        "(text, number, date `YYYY-MM-DD`, boolean, or one of a choice's options); "
        "null clears it. Keys no field defines can only be cleared.",
    )


class TagsIn(RequestBody):
    version: Version
    add: list[Tag] = []
    remove: list[Tag] = []


class NoteIn(RequestBody):
    text: str = Field(min_length=1, max_length=10_000)


class PurchaseCreateIn(RequestBody):
    reference: str = Field(min_length=1, max_length=100)
    amount: float
    currency: str = Field(description="ISO 4217, e.g. EUR.")
    description: str = Field("", max_length=500)
    status: str = Field("completed", min_length=1, max_length=32)
    purchased_at: Annotated[datetime | None, Field(strict=False)] = Field(
        None, description="ISO 8601 with a zone; default now."
    )


class ImportIn(RequestBody):
    csv: str = Field(description="The CSV file's text (see the import's columns).")


class RatingIn(RequestBody):
    score: int = Field(ge=1, le=5, description="1 (unhappy) to 5 (very happy).")


# Responses -----------------------------------------------------------------


class FieldOut(ResponseBody):
    id: int
    key: str
    label: str
    type: FieldType
    options: list[str]


class FieldsOut(ResponseBody):
    fields: list[FieldOut]


class FieldResultOut(ResponseBody):
    field: FieldOut


class FieldValueOut(ResponseBody):
    key: str
    label: str
    type: FieldType
    options: list[str]
    value: Any = Field(description="As stored; null when the customer has none.")


class MetricsOut(ResponseBody):
    conversations: int
    open: int
    first_contact: datetime | None
    avg_first_response_seconds: float | None = Field(
        description="Per conversation, first inbound message to the first agent reply; "
        "averaged. Null until a conversation was answered."
    )
    answered: int = Field(description="Conversations the average is over.")
    avg_satisfaction: float | None = Field(description="Null while nothing was rated.")
    rated: int


class NoteOut(ResponseBody):
    id: int
    author_id: int | None
    text: str
    created_at: datetime


class PurchaseOut(ResponseBody):
    id: int
    customer_id: int
    reference: str
    description: str
    amount: float
    currency: str
    status: str
    purchased_at: datetime


class HistoryEntryOut(ResponseBody):
    id: int
    inbox_id: int
    inbox_name: str
    channel: ChannelKind
    subject: str
    status: Status
    satisfaction: int | None
    created_at: datetime
    last_activity_at: datetime


class ProfileOut(ResponseBody):
    customer: CustomerOut
    fields: list[FieldValueOut] = Field(description="Every defined field, in order.")
    metrics: MetricsOut
    notes: list[NoteOut] = Field(description="Newest first (up to 20).")
    purchases: list[PurchaseOut] = Field(description="Newest first (up to 20).")
    conversations: list[HistoryEntryOut] = Field(
        description="Service history: newest activity first (up to 50), only your inboxes."
    )


class NoteResultOut(ResponseBody):
    note: NoteOut


class PurchaseResultOut(ResponseBody):
    purchase: PurchaseOut
    created: bool = Field(description="False when this reference was there already.")


class ImportProblemOut(ResponseBody):
    line: int
    reason: str


class ImportOut(ResponseBody):
    created: int
    unchanged: int = Field(description="Rows repeating a purchase already recorded.")
    problems: list[ImportProblemOut] = Field(description="Rows not imported, by line.")


class RatingOut(ResponseBody):
    conversation_id: int
    satisfaction: int
