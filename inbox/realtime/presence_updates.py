"""Which presence fragments a change means for one open page, and the page's first render.

- Conversation and customer pages show a strip of colleagues on the same
  customer (#presence): here, or in another of the customer's conversations,
  whichever channel it is on.
- Lists mark each row with who is on that conversation
  (#presence-conv-ID, kept by hx-preserve when the row itself is redrawn).
- The board reloads its summary when someone comes, goes or steps away.

These are rendered per viewer, unlike event fragments: what a viewer may see
depends on their own inbox access, and they never see themselves. They are
small, and only pages that show the customer or conversation render them.
"""

from __future__ import annotations

from inbox.realtime.page_context import (
    BoardContext,
    ConversationContext,
    CustomerContext,
    ListContext,
)
from inbox.realtime.page_updates import Viewer, board_tick
from inbox.realtime.presence import Marker, PresenceChange, PresenceTracker
from inbox.views.templating import templates


def presence_updates(change: PresenceChange, viewer: Viewer, tracker: PresenceTracker) -> list[str]:
    page = viewer.page
    me = viewer.agent.id
    if isinstance(page, ConversationContext | CustomerContext):
        if page.customer_id not in change.customer_ids:
            return []
        current = page.conversation_id if isinstance(page, ConversationContext) else None
        markers = tracker.on_customer(page.customer_id, me, viewer.inbox_ids)
        return [strip_html(markers, current, oob=True)]
    if isinstance(page, ListContext):
        found = tracker.on_conversations(change.conversation_ids, me, viewer.inbox_ids)
        return [
            chips_html(conv_id, found.get(conv_id, []))
            for conv_id in sorted(change.conversation_ids)
        ]
    if isinstance(page, BoardContext) and change.availability_changed:
        return [board_tick()]
    return []


def strip_html(markers: list[Marker], current_id: int | None, *, oob: bool = False) -> str:
    return templates.get_template("fragments/presence_strip.html").render(
        markers=markers, current_id=current_id, oob=oob
    )


def chips_html(conversation_id: int, markers: list[Marker]) -> str:
    return templates.get_template("fragments/presence_chips.html").render(
        conversation_id=conversation_id, markers=markers
    )
