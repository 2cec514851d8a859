"""Messages agents write on a conversation: replies and private notes (inbound: inbound.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from inbox.access import get_visible_conversation, inbox_audience
from inbox.channels.email.settings import email_config
from inbox.errors import BadRequest, Conflict, PayloadTooLarge
from inbox.events import Audience, MessageCreated
from inbox.mentions import MentionOutcome
from inbox.models import (
    Agent,
    Attachment,
    ChannelKind,
    Conversation,
    Delivery,
    Direction,
    Inbox,
    Message,
    utcnow,
)
from inbox.runtime import Runtime
from inbox.sanitize import preview

from .conversations import claim_if_unassigned
from .live_chat import queue_chat_follow_up
from .notifications import notify_mentions
from .outbound_mail import queue_email_reply
from .outbound_sends import TemplateChoice, plan_provider_reply, queue_provider_reply
from .transaction import Transaction, transaction

MAX_TEXT = 100_000
MAX_ATTACHMENTS = 10
# EmailConfig's own default, for an email inbox whose settings aren't entered yet.
DEFAULT_MAX_MESSAGE_MB = 25
NOTE_ATTACHMENTS_REFUSED = "a note can't carry attachments: attach files to a reply"


def _check_text(text: str) -> str:
    text = text.replace("\x00", "").strip()
    if not text:
        raise BadRequest("the message is empty")
    if len(text) > MAX_TEXT:
        raise BadRequest(f"the message is longer than {MAX_TEXT} characters")
    return text


@dataclass(frozen=True)
class NewAttachment:
    """A file for a reply, its bytes already in the blob store under `sha256`.

    Built by `inbox.views.uploads`, which cleans the name and the type.
    """

    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class AttachmentLimits:
    max_files: int
    max_bytes: int

    @property
    def max_mb(self) -> int:
        return self.max_bytes // 2**20


def reply_attachment_limits(inbox: Inbox) -> AttachmentLimits | None:
    """What a reply in this inbox may carry; None where replies carry no files.

    Only the email channel sends files. Their total is the inbox's
    `max_message_mb`, the largest mail it takes in: a reply is held to what
    the team itself accepts.
    """
    if inbox.channel is not ChannelKind.EMAIL:
        return None
    config = email_config(inbox.config)
    mb = config.max_message_mb if config is not None else DEFAULT_MAX_MESSAGE_MB
    return AttachmentLimits(max_files=MAX_ATTACHMENTS, max_bytes=mb * 2**20)


def attachments_refused(inbox: Inbox) -> str:
    """Why a reply in an inbox without attachments can't carry one."""
    return f"replies in {inbox.name} can't carry attachments: only email replies can"


def check_reply_attachments(inbox: Inbox, count: int, total_bytes: int) -> None:
    """Raise the reason when a reply here can't carry `count` files of `total_bytes`."""
    limits = reply_attachment_limits(inbox)
    if limits is None:
        raise BadRequest(attachments_refused(inbox))
    if count > limits.max_files:
        raise BadRequest(f"a reply can carry at most {limits.max_files} files")
    if total_bytes > limits.max_bytes:
        raise PayloadTooLarge(
            f"the attachments total {total_bytes / 2**20:.1f} MB; "
            f"replies from {inbox.name} carry at most {limits.max_mb} MB"
        )


async def do_post_note(
    rt: Runtime, actor: Agent, conversation_id: int, text: str, *, at: datetime | None = None
) -> Message:
    """A private note: seen by agents of the inbox, never sent to the customer.

    Colleagues it @mentions are notified (see `inbox.mentions`). `at`
    backdates it when importing history; it defaults to now.
    """
    posted = await do_post_note_with_mentions(rt, actor, conversation_id, text, at=at)
    return posted.message


@dataclass(frozen=True)
class NotePosted:
    message: Message
    mentions: MentionOutcome  # whom the note notified, and whom it could not


async def do_post_note_with_mentions(
    rt: Runtime, actor: Agent, conversation_id: int, text: str, *, at: datetime | None = None
) -> NotePosted:
    """`do_post_note`, also saying what became of each @mention, so the author can be told."""
    text = _check_text(text)
    async with transaction(rt) as tx:
        conv = await get_visible_conversation(tx.session, actor, conversation_id)
        message = await _add_agent_message(tx, actor, conv, Direction.NOTE, text, at)
        # Same transaction: a note and its notifications commit together or not at all.
        mentions = await notify_mentions(tx, actor, conv, message)
    return NotePosted(message, mentions)


async def do_post_reply(
    rt: Runtime,
    actor: Agent,
    conversation_id: int,
    text: str,
    *,
    at: datetime | None = None,
    based_on: int | None = None,
    attachments: Sequence[NewAttachment] = (),
    template: TemplateChoice | None = None,
) -> Message:
    """A reply to the customer, stored as outbound and queued for its channel.

    Replying to an unassigned conversation claims it. An agent can't reply to
    a conversation someone else holds; a lead or admin can step in. `at`
    backdates it when importing history.

    `based_on` is the newest message id the author had seen when they began
    the draft. If the customer wrote, or a colleague replied, on this
    conversation since then, the reply is refused (409, "new activity since
    you started", with `new_message_ids`) so the author can review and resend.
    Notes and the author's own replies don't count. None skips the check.

    `attachments` (email inboxes only, within `reply_attachment_limits`)
    become the message's Attachment rows, which the returned message has
    loaded, and parts of the email.

    A deactivated inbox sends nothing: the reply is refused (409).

    Messaging channels keep their providers' windows
    (inbox/channels/reply_windows.py): a free-form reply WhatsApp would refuse
    is refused here (409, with the approved templates), and `template` sends
    one of those instead (its text is then ignored).
    """
    text = _check_text(text) if template is None else ""
    async with transaction(rt) as tx:
        # With a draft to check, lock the conversation row (PostgreSQL): two
        # replies based on the same message then can't both go out.
        conv = await get_visible_conversation(
            tx.session, actor, conversation_id, for_update=based_on is not None
        )
        inbox = await tx.session.get(Inbox, conv.inbox_id)
        assert inbox is not None  # a foreign key
        if not inbox.is_active and at is None:
            # An admin turned the channel off (a number handed back, a bot
            # retired): nothing more goes out through it until it is back on.
            raise Conflict(
                f"the {inbox.name} inbox is deactivated, so replies can't be sent from it; "
                "an admin can reactivate it",
                inbox_id=inbox.id,
            )
        if attachments:
            check_reply_attachments(inbox, len(attachments), sum(a.size for a in attachments))
        if conv.assignee_id is None:
            await claim_if_unassigned(tx, actor, conv, reason="replied")
        if conv.assignee_id not in (None, actor.id) and not actor.can_assign_others:
            holder = await tx.session.scalar(select(Agent.name).where(Agent.id == conv.assignee_id))
            raise Conflict(f"{holder} is handling this conversation", assignee_id=conv.assignee_id)
        # In the same transaction as the insert, so it commits only if still true.
        if based_on is not None:
            newer = await new_activity_since(tx.session, actor, conv.id, based_on)
            if newer:
                raise Conflict("new activity since you started", new_message_ids=newer)
        # Imported history went out long ago: no window, nothing to send.
        plan = await plan_provider_reply(tx.session, conv, template) if at is None else None
        if plan is not None and plan.text is not None:
            text = plan.text
        message = await _add_agent_message(tx, actor, conv, Direction.OUTBOUND, text, at)
        rows = [
            Attachment(
                message_id=message.id,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
            )
            for a in attachments
        ]
        if rows:
            tx.session.add_all(rows)
            await tx.session.flush()  # their ids: the author's copy links to them at once
        set_committed_value(message, "attachments", rows)
        if at is None:
            await queue_email_reply(tx, rt, conv, message, rows)
            await queue_chat_follow_up(tx, rt, conv, message)
        if plan is not None:
            await queue_provider_reply(tx, message, plan)
        return message


async def new_activity_since(
    session: AsyncSession, actor: Agent, conversation_id: int, based_on: int
) -> list[int]:
    """Ids, oldest first, of this conversation's messages after `based_on` that a
    reply should not talk over: the customer's, and replies not by `actor`."""
    rows = await session.scalars(
        select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            Message.id > based_on,
            or_(
                Message.direction == Direction.INBOUND,
                and_(
                    Message.direction == Direction.OUTBOUND,
                    Message.sender_agent_id.is_distinct_from(actor.id),
                ),
            ),
        )
        .order_by(Message.id)
    )
    return list(rows.all())


def message_time(at: datetime | None) -> datetime:
    """When a message counts as written: now, or an imported time never in the future."""
    now = utcnow()
    return now if at is None else min(at, now)


async def _add_agent_message(
    tx: Transaction,
    actor: Agent,
    conv: Conversation,
    direction: Direction,
    text: str,
    at: datetime | None,
) -> Message:
    now = message_time(at)
    message = Message(
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        inbox_id=conv.inbox_id,
        direction=direction,
        sender_agent_id=actor.id,
        text=text,
        # Imported history went out long ago; a live reply waits for its channel.
        delivery=(
            None
            if direction is not Direction.OUTBOUND
            else Delivery.SENT
            if at is not None
            else Delivery.QUEUED
        ),
        created_at=now,
    )
    tx.session.add(message)
    conv.last_activity_at = max(conv.last_activity_at, now)
    if direction is Direction.OUTBOUND:
        conv.last_message_preview = preview(text)
    conv.version += 1
    await tx.session.flush()
    tx.audit(actor, f"message.{direction.value}", "conversation", conv.id, message_id=message.id)
    tx.emit(
        MessageCreated(
            message_id=message.id,
            conversation_id=conv.id,
            inbox_id=conv.inbox_id,
            customer_id=conv.customer_id,
            direction=direction.value,
            sender_agent_id=actor.id,
        ),
        # A note never goes to the customer; a reply reaches them via the channel.
        Audience(
            await inbox_audience(tx.session, conv.inbox_id),
            customer_id=conv.customer_id if direction is Direction.OUTBOUND else None,
        ),
    )
    return message
