"""`GET /conversations/{id}`: header, cross-channel timeline, profile panel, composer.

The builders here are shared with the action views, which re-render the same
fragments after a change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox.access import get_visible_conversation, inbox_audience, visible_inbox_ids
from inbox.actions.messages import AttachmentLimits, reply_attachment_limits
from inbox.channels.reply_windows import ReplyWindow, reply_window
from inbox.models import (
    Agent,
    Attachment,
    Conversation,
    Customer,
    Direction,
    Inbox,
    InboxTeamAccess,
    Message,
    Status,
    Team,
    utcnow,
)
from inbox.queries import Cursor, TimelineEntry, customer_timeline
from inbox.realtime.live_socket import LiveSocket, live_socket
from inbox.realtime.outbox import latest_seq
from inbox.views.customer_panel import load_panel
from inbox.views.display import Moment, channel_label, moment
from inbox.views.fragments import vary_on_htmx, wants_fragment
from inbox.views.requests import path_int, require_agent, runtime
from inbox.views.templating import render

TIMELINE_PAGE = 50


@dataclass(frozen=True)
class HeaderAction:
    verb: str  # the last path segment: /conversations/{id}/{verb}
    label: str
    style: str  # a button class suffix


@dataclass(frozen=True)
class ConversationHeader:
    conversation: Conversation
    customer: Customer
    inbox: Inbox
    channel_label: str
    assignee_name: str | None
    url: str
    actions: list[HeaderAction]
    # Only filled for leads and admins: who else could take it.
    assignable: list[Agent]
    teams: list[Team]
    # The provider's messaging window (WhatsApp, Messenger, Instagram): the
    # composer warns, and offers templates, before a reply would be refused.
    window: ReplyWindow | None = None

    @property
    def inactive_notice(self) -> str:
        """Said in place of the composer's send button when the inbox is off."""
        return (
            f"The {self.inbox.name} inbox is deactivated: replies can't be sent from it "
            "until an admin reactivates it. Notes still work."
        )

    @property
    def reply_attachments(self) -> AttachmentLimits | None:
        """What the composer's replies may attach; None hides the file input."""
        return reply_attachment_limits(self.inbox)


def header_actions(agent: Agent, conv: Conversation) -> list[HeaderAction]:
    """The buttons that can succeed for this agent; the actions still have the last word."""
    mine_or_free = conv.assignee_id in (None, agent.id) or agent.can_assign_others
    actions = []
    if conv.assignee_id is None:
        actions.append(HeaderAction("claim", "Claim", "primary"))
    elif conv.assignee_id == agent.id or agent.can_assign_others:
        actions.append(HeaderAction("release", "Release", "quiet"))
    if mine_or_free and conv.status is not Status.RESOLVED:
        actions.append(HeaderAction("resolve", "Resolve", "success"))
    if mine_or_free and conv.status is not Status.OPEN:
        actions.append(HeaderAction("reopen", "Reopen", "quiet"))
    return actions


def header_perspective(agent: Agent, conv: Conversation) -> str:
    """All that the header reads from the agent (header_actions, `assignable`).

    Agents with the same perspective get byte-identical headers, so a live
    update renders the header once per perspective, not once per agent; keep
    this in step with header_actions and load_header.
    """
    if agent.can_assign_others:
        return "lead"
    return "assignee" if conv.assignee_id == agent.id else "agent"


async def load_header(db: AsyncSession, agent: Agent, conv: Conversation) -> ConversationHeader:
    customer = await db.get(Customer, conv.customer_id)
    inbox = await db.get(Inbox, conv.inbox_id)
    assert customer is not None and inbox is not None  # foreign keys guarantee both
    assignee_name = (
        await db.scalar(select(Agent.name).where(Agent.id == conv.assignee_id))
        if conv.assignee_id is not None
        else None
    )
    assignable: list[Agent] = []
    teams: list[Team] = []
    if agent.can_assign_others:
        ids = await inbox_audience(db, conv.inbox_id)
        assignable = list(
            (await db.scalars(select(Agent).where(Agent.id.in_(ids)).order_by(Agent.name))).all()
        )
        teams = list(
            (
                await db.scalars(
                    select(Team)
                    .join(InboxTeamAccess, InboxTeamAccess.team_id == Team.id)
                    .where(InboxTeamAccess.inbox_id == conv.inbox_id)
                    .order_by(Team.name)
                )
            ).all()
        )
    return ConversationHeader(
        conversation=conv,
        customer=customer,
        inbox=inbox,
        channel_label=channel_label(inbox.channel.value),
        assignee_name=assignee_name,
        url=f"/conversations/{conv.id}",
        actions=header_actions(agent, conv),
        assignable=assignable,
        teams=teams,
        window=await reply_window(db, inbox, conv.id, utcnow()),
    )


@dataclass(frozen=True)
class TimelineItem:
    message: Message
    inbox_name: str
    channel: str
    channel_label: str
    sender_name: str
    attachments: Sequence[Attachment]
    when: Moment
    # "current" on the conversation being viewed, "other" for the customer's
    # other conversations there, "" where no conversation is in focus.
    highlight: str
    # An inbound email's threading rule, in words ("" for anything else).
    threaded_by: str = ""

    @property
    def is_note(self) -> bool:
        return self.message.direction is Direction.NOTE

    @property
    def is_outbound(self) -> bool:
        return self.message.direction is Direction.OUTBOUND


# Shown on an inbound email, so an agent can tell why it is in this conversation.
THREAD_RULE_LABELS = {
    "reply_token": "Threaded by our reply token",
    "in_reply_to": "Threaded by In-Reply-To",
    "references": "Threaded by References",
    "new": "Started a new conversation",
    "moved": "Moved by an agent",
}


def timeline_item(
    entry: TimelineEntry,
    current_id: int | None,
    *,
    attachments: Sequence[Attachment] | None = None,
) -> TimelineItem:
    m = entry.message
    highlight = (
        "" if current_id is None else "current" if m.conversation_id == current_id else "other"
    )
    return TimelineItem(
        message=m,
        inbox_name=entry.inbox_name,
        channel=entry.channel,
        channel_label=channel_label(entry.channel),
        sender_name=entry.sender_name,
        # A freshly written message has no attachments loaded (and none to load).
        attachments=m.attachments if attachments is None else attachments,
        when=moment(m.created_at, utcnow()),
        highlight=highlight,
        threaded_by=THREAD_RULE_LABELS.get(entry.threaded_by or "", ""),
    )


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineItem]
    earlier_url: str | None
    # The page's live socket, resuming after the outbox position read before
    # the timeline (an event in between is replayed; fragments are idempotent).
    live: LiveSocket


async def load_timeline(
    db: AsyncSession,
    agent: Agent,
    customer_id: int,
    *,
    base_url: str,
    current_id: int | None,
    before: Cursor | None,
    seq: int | None = None,
) -> TimelinePage:
    """One page of the timeline; `seq` is where the caller began reading (else read here)."""
    if seq is None:
        seq = await latest_seq(db)
    timeline = await customer_timeline(db, agent, customer_id, before=before, limit=TIMELINE_PAGE)
    live = (
        live_socket(seq, page="conversation", conversation=current_id)
        if current_id is not None
        else live_socket(seq, page="customer", customer=customer_id)
    )
    return TimelinePage(
        items=[timeline_item(e, current_id) for e in timeline.entries],
        earlier_url=(
            f"{base_url}?{urlencode({'before': timeline.earlier_cursor})}"
            if timeline.earlier_cursor
            else None
        ),
        live=live,
    )


def before_cursor(request: Request) -> Cursor | None:
    raw = request.query_params.get("before")
    return Cursor.decode(raw) if raw else None


async def conversation_page(request: Request) -> Response:
    agent = require_agent(request)
    conversation_id = path_int(request, "conversation_id")
    before = before_cursor(request)
    async with runtime(request).read_sessions() as db:
        # Before anything the page shows, so the socket replays what follows.
        seq = await latest_seq(db)
        conv = await get_visible_conversation(db, agent, conversation_id)
        # Collision control: a draft begun here is based on the newest message
        # (read before the timeline, so it is never ahead of what the page shows).
        based_on = await db.scalar(
            select(func.max(Message.id)).where(Message.conversation_id == conv.id)
        )
        url = f"/conversations/{conv.id}"
        timeline = await load_timeline(
            db, agent, conv.customer_id, base_url=url, current_id=conv.id, before=before, seq=seq
        )
        if before is not None and wants_fragment(request):
            return vary_on_htmx(render(request, "_timeline_page.html", timeline=timeline))
        header = await load_header(db, agent, conv)
        panel = await load_panel(db, agent, conv.customer_id, current_id=conv.id)
        presence = runtime(request).hub.presence.on_customer(
            conv.customer_id, agent.id, await visible_inbox_ids(db, agent)
        )
    return vary_on_htmx(
        render(
            request,
            "conversation.html",
            agent=agent,
            header=header,
            timeline=timeline,
            panel=panel,
            based_on=based_on,
            presence=presence,
        )
    )


routes = [Route("/conversations/{conversation_id:int}", conversation_page, methods=["GET"])]
