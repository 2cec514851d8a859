"""The API's request and response shapes, as pydantic models.

These models are the single source for both validation and the OpenAPI
document (`inbox.api.openapi`), so what is documented is what is enforced.
Request bodies are strict (no "5" for 5, no true for 1) and closed to unknown
fields; query strings are lax because every query value arrives as text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from inbox.models import ChannelKind, Delivery, Direction, IdentityKind, Role, Status

# Conversation, agent, team and inbox ids are 32-bit columns; a larger
# number can't name anything, and binding it would overflow the driver.
MAX_ID = 2**31 - 1
# Message ids are 64-bit.
MAX_BIG_ID = 2**63 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QueryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResponseBody(BaseModel):
    # Every field is always present in a response, defaults included, so the
    # document marks them all required.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


# Requests ------------------------------------------------------------------


class EmptyIn(RequestBody):
    """No fields: send `{}` or no body at all."""


class AssignIn(RequestBody):
    """Hand the conversation to an agent, a team, or both; at least one."""

    assignee_id: Id | None = None
    team_id: Id | None = None


class TemplateIn(RequestBody):
    """An approved WhatsApp template, one the inbox lists, with its body's parameters."""

    name: str = Field(min_length=1, max_length=512)
    params: list[str] = Field(
        default_factory=list, max_length=40, description="The body's {{1}}, {{2}}, … in order."
    )


class PostMessageIn(RequestBody):
    """A reply goes to the customer; a note is private to agents."""

    kind: Literal["reply", "note"]
    text: str = Field("", description="Required, except for a template reply.")
    template: TemplateIn | None = Field(
        None,
        description="WhatsApp replies only: send this approved template instead of `text` "
        "(the only reply allowed 24 hours after the customer's last message; a free-form "
        "reply then gets 409 with `details.reason` `outside_window` and "
        "`details.templates`).",
    )
    based_on: int | None = Field(
        None,
        ge=0,
        le=MAX_BIG_ID,
        description="Replies: the newest message id you had seen when you began writing. "
        "If the customer wrote, or a colleague replied, after it, the reply is refused "
        "with 409 and `details.new_message_ids`; review those and send again with a "
        "newer `based_on`. Leave it out to skip the check. Ignored for notes.",
    )


class PostMessageForm(BaseModel):
    """`multipart/form-data`: the fields of the JSON body, plus `files` for a reply.

    Only replies in an email inbox carry files: at most 10, together no larger
    than the inbox's `max_message_mb` (25 MB unless set), else 400 or 413 with
    the reason. A file's name is kept without path or control characters; its
    declared type is kept as `type/subtype` (else `application/octet-stream`).
    """

    # Lax, unlike the JSON body: every form value arrives as text.
    model_config = ConfigDict(extra="forbid")

    kind: Literal["reply", "note"]
    text: str
    based_on: int | None = Field(
        None, ge=0, le=MAX_BIG_ID, description="As in the JSON body; empty means absent."
    )
    files: list[bytes] = Field(
        default_factory=list, description="Files to attach to a reply, one part each."
    )


ViewName = Literal["mine", "unassigned", "all"]
StatusFilter = Literal["open", "pending", "resolved", "any"]


class ConversationListQuery(QueryParams):
    view: ViewName = Field("all", description="Whose conversations: mine, unassigned or all.")
    status: StatusFilter = Field("open", description="Only this status, or any.")
    inbox_id: int | None = Field(None, description="Only this inbox.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")
    limit: int = Field(25, ge=1, le=100, description="Page size.")


class TimelineQuery(QueryParams):
    before: str | None = Field(None, description="`earlier_cursor` of the previous page.")
    limit: int = Field(50, ge=1, le=200, description="Page size.")


# Responses -----------------------------------------------------------------


class AgentOut(ResponseBody):
    id: int
    name: str
    email: str
    role: Role


class MeOut(ResponseBody):
    agent: AgentOut


class InboxOut(ResponseBody):
    id: int
    name: str
    channel: ChannelKind


class InboxListOut(ResponseBody):
    inboxes: list[InboxOut]


class ConversationOut(ResponseBody):
    id: int
    inbox_id: int
    inbox_name: str
    channel: ChannelKind
    customer_id: int
    customer_name: str
    subject: str
    status: Status
    assignee_id: int | None
    assignee_name: str | None
    team_id: int | None
    last_activity_at: datetime
    last_message_preview: str
    version: int = Field(description="Bumped on every change to the conversation.")


class ConversationListOut(ResponseBody):
    conversations: list[ConversationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class AttachmentOut(ResponseBody):
    id: int
    filename: str
    content_type: str
    size: int
    url: str = Field(
        description="Its bytes: a path on this site (`/attachments/{id}`, outside `/api/v1`) "
        "that takes the same bearer token."
    )


class MessageOut(ResponseBody):
    id: int
    conversation_id: int
    inbox_id: int
    customer_id: int
    direction: Direction
    sender_agent_id: int | None
    text: str
    html: str | None = Field(description="Sanitised HTML, when the channel sent any.")
    delivery: Delivery | None = Field(description="Outbound only: where the channel stands.")
    delivery_error: str | None = Field(
        description="Why a failed (or retrying) message was not delivered, in plain words."
    )
    automatic: bool = Field(
        description="Sent automatically (an acknowledgement of a new email), by no agent."
    )
    media_error: str | None = Field(
        description="Inbound media that could not be fetched from the provider, and why "
        "(one line per file); the rest of the message is intact."
    )
    created_at: datetime
    attachments: list[AttachmentOut]


class TimelineEntryOut(MessageOut):
    inbox_name: str
    channel: ChannelKind
    sender_name: str


class ConversationDetailOut(ResponseBody):
    conversation: ConversationOut
    messages: list[MessageOut] = Field(description="Oldest first.")


class ConversationResultOut(ResponseBody):
    conversation: ConversationOut


class MessageResultOut(ResponseBody):
    message: MessageOut
    warning: str | None = Field(
        None,
        description="For a note: @mentions that reached nobody, e.g. a colleague who "
        "can't see this inbox. Null when there is nothing to say.",
    )


class IdentityOut(ResponseBody):
    kind: IdentityKind
    value: str
    verified: bool


class CustomerOut(ResponseBody):
    id: int
    name: str
    attributes: dict[str, Any]
    tags: list[str]
    identities: list[IdentityOut]
    version: int
    merged_into_id: int | None = Field(
        description="Set when this customer was merged into that one (undo with `unmerge`)."
    )


class CustomerDetailOut(ResponseBody):
    customer: CustomerOut
    timeline: list[TimelineEntryOut] = Field(description="The newest entries, oldest first.")
    earlier_cursor: str | None = Field(description="Pass as `before` to the timeline endpoint.")


class CustomerResultOut(ResponseBody):
    customer: CustomerOut


class MergeVersionsIn(RequestBody):
    keep: int = Field(description="The `version` you saw of the customer that stays.")
    merge: int = Field(description="The `version` you saw of the customer merged into it.")


class MergeIn(RequestBody):
    """Merge customer `merge_id` into the one in the path."""

    merge_id: Id
    versions: MergeVersionsIn


class DuplicateReasonOut(ResponseBody):
    rule: Literal["phone", "email", "name_and_domain"]
    value: str = Field(description="The phone, email or email domain both share.")
    text: str = Field(description="The reason, to show to a person.")


class DuplicateOut(ResponseBody):
    customer: CustomerOut
    reasons: list[DuplicateReasonOut]


class DuplicatesOut(ResponseBody):
    duplicates: list[DuplicateOut]


class TimelineOut(ResponseBody):
    entries: list[TimelineEntryOut] = Field(description="Oldest first.")
    earlier_cursor: str | None = Field(description="Pass as `before` for older entries.")


class OpenApiOut(BaseModel):
    """An OpenAPI 3.1 document (this one)."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


# Errors (documentation only: inbox.views.errors writes these) -------------


class ErrorBody(BaseModel):
    status: int
    message: str = Field(description="Safe to show to a person.")
    details: dict[str, Any] | None = Field(
        None,
        description="Extra facts, e.g. `errors: [{field, problem}]` on 422 "
        "`assignee_id` on a claim conflict, or `new_message_ids` on a reply "
        "refused for new activity.",
    )


class ErrorOut(BaseModel):
    error: ErrorBody
