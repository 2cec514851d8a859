"""Which fragments an event means for one open page.

The page's context (a filtered list, a conversation, a customer) decides;
inbox.realtime.render makes and shares the fragments themselves.

- Lists: a conversation's row moves to the top on new activity, is updated
  in place on assignment or status changes, and is removed when it stops
  matching the list's filters; the tabs' counts follow.
- Conversation and customer pages: messages of that customer join the
  timeline; the header follows its conversation, and the composer the
  provider's reply window when the customer writes; the profile panel's details
  (name, identities, tags, fields), notes, purchases, conversations and
  metrics follow their changes.
- Merges: a customer page whose customer was merged away says where to
  (with a link), and the page of the customer that stays shows what moved
  (identities, conversations, timeline); unmerging likewise. A conversation
  page whose customer was merged away is marked out of date.
- Every page: the header's bell follows its agent's unread notifications.
- The board: a conversation opened, assigned or moved between statuses in
  one of the lead's inboxes makes it reload its summary (see board_tick).
"""

from __future__ import annotations

from dataclasses import dataclass

from inbox.channels.reply_windows import WINDOWED_CHANNELS
from inbox.events import (
    ConversationAssigned,
    ConversationCreated,
    ConversationRated,
    ConversationStatusChanged,
    CustomerMerged,
    CustomerUnmerged,
    CustomerUpdated,
    EventBase,
    MessageCreated,
    MessageDeliveryChanged,
    MessageMediaFetched,
    MessageMoved,
    NotificationCreated,
    NotificationRead,
    Published,
)
from inbox.models import Agent
from inbox.realtime.page_context import (
    BoardContext,
    ConversationContext,
    CustomerContext,
    ListContext,
    PageContext,
)
from inbox.realtime.render import Renderer, remove_row
from inbox.views.inbox_list import Filters

# Events that redraw a message already on the page.
MessageChanged = MessageDeliveryChanged | MessageMediaFetched | MessageMoved
ConversationEvent = (
    ConversationCreated | MessageCreated | ConversationAssigned | ConversationStatusChanged
)


@dataclass
class Viewer:
    """One open page: who looks at it, and what it shows."""

    agent: Agent
    page: PageContext
    # Reloaded when inbox access changes.
    inbox_ids: frozenset[int]


async def page_updates(published: Published, viewer: Viewer, renderer: Renderer) -> list[str]:
    """The fragments to push to this page for this event (often none)."""
    page = viewer.page
    event = published.event
    if isinstance(event, NotificationCreated | NotificationRead):
        # Every page's header has the bell; the event's audience is its agent.
        if event.agent_id != viewer.agent.id:
            return []
        return [await renderer.bell_html(published.seq, viewer.agent)]
    if isinstance(page, BoardContext):
        changes_load = isinstance(
            event, ConversationCreated | ConversationAssigned | ConversationStatusChanged
        ) and (event.inbox_id in viewer.inbox_ids)
        return [board_tick()] if changes_load else []
    if isinstance(page, ListContext):
        return await _list_updates(published, viewer, page.filters, renderer)
    if isinstance(event, CustomerMerged | CustomerUnmerged):
        return await _merge_updates(event, published.seq, viewer, renderer)
    if isinstance(page, ConversationContext):
        return await _customer_updates(
            published, viewer, page.customer_id, page.conversation_id, renderer
        )
    return await _customer_updates(published, viewer, page.customer_id, None, renderer)


async def composer_after_inbox_change(
    published: Published, inbox_id: int, viewer: Viewer, renderer: Renderer
) -> list[str]:
    """An inbox changed (deactivated, reactivated, its access): a page showing one of
    its conversations redraws what a reply may be, so a deactivated inbox's composer
    says so and disables Send at once, not after the agent's next reload."""
    page = viewer.page
    if not isinstance(page, ConversationContext) or inbox_id not in viewer.inbox_ids:
        return []
    row = await renderer.row(published.seq, page.conversation_id)
    if row is None or row.conversation.inbox_id != inbox_id:
        return []
    return [await renderer.composer_state_html(published.seq, row, viewer.agent)]


async def _merge_updates(
    event: CustomerMerged | CustomerUnmerged, seq: int, viewer: Viewer, renderer: Renderer
) -> list[str]:
    """Both customers' pages redraw what a merge moves; see the module's docstring."""
    page = viewer.page
    assert isinstance(page, ConversationContext | CustomerContext)
    customer_id = page.customer_id
    if customer_id not in (event.customer_id, event.merged_id):
        return []
    agent, inboxes = viewer.agent, viewer.inbox_ids
    if isinstance(page, ConversationContext):
        if isinstance(event, CustomerMerged) and customer_id == event.merged_id:
            return [await renderer.stale_html()]
        current: int | None = page.conversation_id
        parts = []
    else:
        current = None
        parts = [
            await renderer.merge_panel_html(seq, agent, inboxes, customer_id),
            await renderer.timeline_html(seq, agent, inboxes, customer_id),
        ]
    parts += [
        await renderer.details_html(seq, agent, customer_id, current),
        await renderer.metrics_html(seq, agent, inboxes, customer_id),
        await renderer.notes_html(seq, agent, customer_id, current),
        await renderer.purchases_html(seq, agent, customer_id),
        await renderer.conversations_html(seq, agent, inboxes, customer_id, current),
    ]
    return [p for p in parts if p]


def board_tick() -> str:
    """Tells a board page to reload its summary (static/app.js coalesces a burst into one)."""
    return '<span id="board-tick" hidden hx-swap-oob="true"></span>'


async def _list_updates(
    published: Published, viewer: Viewer, filters: Filters, renderer: Renderer
) -> list[str]:
    seq, event = published.seq, published.event
    if not isinstance(event, ConversationEvent):
        return []
    row = await renderer.row(seq, event.conversation_id)
    if row is None:
        return []
    conv = row.conversation
    parts: list[str] = []
    if conv.inbox_id not in viewer.inbox_ids or not filters.matches(conv, viewer.agent.id):
        parts.append(remove_row(conv.id))
    elif isinstance(event, ConversationCreated):
        parts.append(await renderer.row_html(seq, row, "top"))
    elif isinstance(event, MessageCreated):
        # A message moves the row up only if it is the newest activity (an
        # imported, backdated one leaves the row where the list had it).
        entry = await renderer.entry(seq, event.message_id)
        newest = entry is not None and entry.message.created_at >= conv.last_activity_at
        parts.append(await renderer.row_html(seq, row, "top" if newest else "upsert"))
    else:
        parts.append(await renderer.row_html(seq, row, "upsert"))
    if not isinstance(event, MessageCreated):  # messages never change the counts
        counts = (await renderer.counts(seq)).for_agent(viewer.agent.id, viewer.inbox_ids)
        parts.append(await renderer.counts_html(counts))
    return parts


async def _customer_updates(
    published: Published,
    viewer: Viewer,
    customer_id: int,
    current_id: int | None,
    renderer: Renderer,
) -> list[str]:
    """A page showing one customer's timeline and profile (and maybe one conversation)."""
    seq, event = published.seq, published.event
    parts: list[str] = []
    if isinstance(event, CustomerUpdated):
        if event.customer_id != customer_id:
            return []
        if {"name", "attributes", "tags"} & set(event.fields):
            parts.append(await renderer.details_html(seq, viewer.agent, customer_id, current_id))
        if "notes" in event.fields:
            parts.append(await renderer.notes_html(seq, viewer.agent, customer_id, current_id))
        if "purchases" in event.fields:
            parts.append(await renderer.purchases_html(seq, viewer.agent, customer_id))
        return parts
    if not await _about_customer(event, seq, customer_id, renderer):
        return []
    metrics = await renderer.metrics_html(seq, viewer.agent, viewer.inbox_ids, customer_id)
    if isinstance(event, ConversationRated):
        return [metrics]
    if isinstance(event, MessageCreated | MessageChanged):
        # A delivery change, fetched media or a move redraws the message in
        # place (sent, or failed and why; its files; here or elsewhere now).
        entry = await renderer.entry(seq, event.message_id)
        if entry is not None:
            highlight = (
                ""
                if current_id is None
                else "current"
                if entry.message.conversation_id == current_id
                else "other"
            )
            parts.append(await renderer.message_html(seq, entry, highlight))
    if (
        isinstance(event, ConversationAssigned | ConversationStatusChanged)
        and event.conversation_id == current_id
    ):
        row = await renderer.row(seq, current_id)
        if row is not None:
            parts.append(await renderer.header_html(seq, row, viewer.agent))
    if (
        isinstance(event, MessageCreated)
        and event.direction == "inbound"
        and event.conversation_id == current_id
    ):
        # The customer wrote: a provider's reply window opens again, so the
        # composer's notice, send button and templates follow.
        row = await renderer.row(seq, current_id)
        if row is not None and row.inbox_channel in WINDOWED_CHANNELS:
            parts.append(await renderer.composer_state_html(seq, row, viewer.agent))
    # The panel lists the customer's conversations with status and last activity.
    parts.append(
        await renderer.conversations_html(
            seq, viewer.agent, viewer.inbox_ids, customer_id, current_id
        )
    )
    parts.append(metrics)
    return parts


async def _about_customer(event: EventBase, seq: int, customer_id: int, renderer: Renderer) -> bool:
    if isinstance(event, ConversationCreated | MessageCreated | MessageChanged | ConversationRated):
        return event.customer_id == customer_id
    if isinstance(event, ConversationAssigned | ConversationStatusChanged):
        # These don't name the customer: read the conversation (once per event).
        row = await renderer.row(seq, event.conversation_id)
        return row is not None and row.conversation.customer_id == customer_id
    return False
