"""Live HTML fragments, rendered once per (event, variant) for the whole process.

Every browser socket that needs a fragment asks this renderer, keyed by the
event's seq and whatever the fragment depends on besides the event: the
variant. Sockets whose agents share a variant share the same string, so a
hundred agents of a team viewing the same list cost one render, not a
hundred. What a variant may depend on is spelled out by its key:

- row:            (seq, conversation, op): the same for everyone who sees the inbox.
- message:        (seq, message, highlight): "current"/"other" on a conversation
                  page, "" on the customer page.
- header:         (seq, conversation, perspective): see header_perspective.
- conversations:  (seq, customer, the agent's visible inboxes, page's conversation).
- notes:          (seq, customer, page's conversation): the form's back link.
- purchases:      (seq, customer).
- details:        (seq, customer, page's conversation): name, identities, tags, fields.
- metrics:        (seq, customer, the agent's visible inboxes).
- merge panel,
  timeline:       (seq, customer, the agent's visible inboxes): after a merge or unmerge.
- counts:         the three numbers themselves.
- bell:           (seq, agent): notifications reach only their own agent.

The subject of an event (its conversation or message) is read once per seq
too. Renders read the database as it is when first asked, which may be newer
than the event: fragments show current state, so applying them is idempotent
and converges. Nothing is rendered for a socket outside the event's
audience: the feed filters on the audience before any of this runs.

Live fragments carry no CSRF token in their forms; htmx sends the page's
token as the X-CSRF-Token header (hx-headers on <body>), which the CSRF
middleware checks first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import replace
from typing import Any, TypeVar

from inbox.access import get_visible_customer
from inbox.errors import NotFound
from inbox.models import Agent, utcnow
from inbox.queries import ConversationRow, TimelineEntry, View, conversation_row
from inbox.queries_notifications import unread_count
from inbox.realtime.once import OnceCache
from inbox.realtime.snapshots import timeline_entry
from inbox.runtime import Runtime
from inbox.views.conversation_page import (
    header_perspective,
    load_header,
    load_timeline,
    timeline_item,
)
from inbox.views.customer_duplicates import load_merge_panel
from inbox.views.customer_panel import ProfilePanel, load_metrics, load_panel
from inbox.views.display import channel_label, moment
from inbox.views.inbox_list import ListItem, OpenCounts, open_counts
from inbox.views.templating import templates

T = TypeVar("T")
Key = tuple[Hashable, ...]

# Fragments are shared within the burst that follows an event and by pages
# that reconnect soon after; older ones are cheap to render again.
HTML_ENTRIES = 2048
HTML_BYTES = 16 * 1024 * 1024
# What events are about, as read for the fragments of one event.
DATA_ENTRIES = 256


def _no_token(_request: object) -> str:
    return ""


def remove_row(conversation_id: int) -> str:
    """Take a row out of a list (dropped by the page if it hasn't got it)."""
    return f'<li id="conv-{int(conversation_id)}" hx-swap-oob="delete"></li>'


def seq_marker(seq: int) -> str:
    """The last event the page applied: where its socket resumes from."""
    return f'<span id="live-seq" data-seq="{int(seq)}" hidden hx-swap-oob="true"></span>'


class Renderer:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._data: OnceCache[Key, Any] = OnceCache(DATA_ENTRIES)
        self._html: OnceCache[Key, str] = OnceCache(HTML_ENTRIES, max_weight=HTML_BYTES, weigh=len)
        # Renders per fragment kind since start: what "once" is measured by.
        self.renders: Counter[str] = Counter()

    def _render(self, kind: str, template: str, **context: Any) -> str:
        self.renders[kind] += 1
        return templates.env.get_template(template).render(
            request=None, csrf_token=_no_token, **context
        )

    async def _read(self, key: Key, read: Callable[[Any], Awaitable[T]]) -> T:
        async def load() -> T:
            async with self._rt.read_sessions() as db:
                return await read(db)

        result: T = await self._data.get(key, load)
        return result

    # What events are about, read once per event.

    async def row(self, seq: int, conversation_id: int) -> ConversationRow | None:
        return await self._read(
            ("row", seq, conversation_id), lambda db: conversation_row(db, conversation_id)
        )

    async def entry(self, seq: int, message_id: int) -> TimelineEntry | None:
        return await self._read(
            ("entry", seq, message_id), lambda db: timeline_entry(db, message_id)
        )

    async def counts(self, seq: int) -> OpenCounts:
        return await self._read(("counts", seq), open_counts)

    # Fragments.

    async def row_html(self, seq: int, row: ConversationRow, op: str) -> str:
        conv = row.conversation

        async def render() -> str:
            item = ListItem(
                row,
                channel_label(row.inbox_channel),
                moment(conv.last_activity_at, utcnow()),
                f"/conversations/{conv.id}",
            )
            return self._render("row", "fragments/row.html", item=item, op=op)

        return await self._html.get(("row", seq, conv.id, op), render)

    async def message_html(self, seq: int, entry: TimelineEntry, highlight: str) -> str:
        async def render() -> str:
            item = replace(timeline_item(entry, None), highlight=highlight)
            return self._render("message", "fragments/message.html", item=item)

        return await self._html.get(("message", seq, entry.message.id, highlight), render)

    async def header_html(self, seq: int, row: ConversationRow, agent: Agent) -> str:
        conv = row.conversation
        # Any agent of this perspective renders the same header.
        key = ("header", seq, conv.id, header_perspective(agent, conv))
        return await self._header_html(
            key, "header", "_conversation_header.html", agent, row, oob=True
        )

    async def composer_state_html(self, seq: int, row: ConversationRow, agent: Agent) -> str:
        """What a reply in this conversation may be now: notice, send button, templates."""
        # Nothing in it depends on who looks: the first viewer's header serves all.
        key = ("composer", seq, row.conversation.id)
        return await self._header_html(key, "composer", "fragments/composer_state.html", agent, row)

    async def _header_html(
        self,
        key: Key,
        kind: str,
        template: str,
        agent: Agent,
        row: ConversationRow,
        **context: Any,
    ) -> str:
        """A template of the conversation's header (ConversationHeader), made once per key."""

        async def render() -> str:
            async with self._rt.read_sessions() as db:
                header = await load_header(db, agent, row.conversation)
            return self._render(kind, template, header=header, **context)

        return await self._html.get(key, render)

    async def _panel_html(
        self,
        key: Key,
        template: str,
        agent: Agent,
        customer_id: int,
        current_id: int | None,
    ) -> str:
        async def render() -> str:
            try:
                async with self._rt.read_sessions() as db:
                    panel: ProfilePanel = await load_panel(
                        db, agent, customer_id, current_id=current_id
                    )
            except NotFound:
                return ""  # gone, or no longer visible: nothing to show
            return self._render(str(key[0]), template, panel=panel, oob=True)

        return await self._html.get(key, render)

    async def conversations_html(
        self,
        seq: int,
        agent: Agent,
        inbox_ids: frozenset[int],
        customer_id: int,
        current_id: int | None,
    ) -> str:
        key = ("conversations", seq, customer_id, inbox_ids, current_id)
        return await self._panel_html(
            key, "fragments/profile_conversations.html", agent, customer_id, current_id
        )

    async def notes_html(
        self, seq: int, agent: Agent, customer_id: int, current_id: int | None
    ) -> str:
        key = ("notes", seq, customer_id, current_id)
        return await self._panel_html(key, "_customer_notes.html", agent, customer_id, current_id)

    async def purchases_html(self, seq: int, agent: Agent, customer_id: int) -> str:
        key = ("purchases", seq, customer_id)
        return await self._panel_html(
            key, "fragments/profile_purchases.html", agent, customer_id, None
        )

    async def details_html(
        self, seq: int, agent: Agent, customer_id: int, current_id: int | None
    ) -> str:
        key = ("details", seq, customer_id, current_id)
        return await self._panel_html(
            key, "fragments/profile_details.html", agent, customer_id, current_id
        )

    async def _visible_html(
        self, key: Key, agent: Agent, customer_id: int, build: Callable[[Any], Awaitable[str]]
    ) -> str:
        """A fragment for whoever sees the customer through the same inboxes (key holds them)."""

        async def render() -> str:
            try:
                async with self._rt.read_sessions() as db:
                    await get_visible_customer(db, agent, customer_id)
                    return await build(db)
            except NotFound:
                return ""

        return await self._html.get(key, render)

    async def metrics_html(
        self, seq: int, agent: Agent, inbox_ids: frozenset[int], customer_id: int
    ) -> str:
        async def build(db: Any) -> str:
            metrics = await load_metrics(db, agent, customer_id)
            return self._render(
                "metrics", "fragments/profile_metrics.html", metrics=metrics, oob=True
            )

        key = ("metrics", seq, customer_id, inbox_ids)
        return await self._visible_html(key, agent, customer_id, build)

    async def merge_panel_html(
        self, seq: int, agent: Agent, inbox_ids: frozenset[int], customer_id: int
    ) -> str:
        async def build(db: Any) -> str:
            customer = await get_visible_customer(db, agent, customer_id)
            merge = await load_merge_panel(db, agent, customer)
            return self._render("merge", "_merge_panel.html", merge=merge, oob=True)

        key = ("merge", seq, customer_id, inbox_ids)
        return await self._visible_html(key, agent, customer_id, build)

    async def timeline_html(
        self, seq: int, agent: Agent, inbox_ids: frozenset[int], customer_id: int
    ) -> str:
        async def build(db: Any) -> str:
            timeline = await load_timeline(
                db,
                agent,
                customer_id,
                base_url=f"/customers/{customer_id}",
                current_id=None,
                before=None,
                seq=seq,
            )
            return self._render("timeline", "fragments/customer_timeline.html", timeline=timeline)

        key = ("timeline", seq, customer_id, inbox_ids)
        return await self._visible_html(key, agent, customer_id, build)

    async def counts_html(self, counts: dict[View, int]) -> str:
        async def render() -> str:
            tabs = [{"view": view, "count": n} for view, n in counts.items()]
            return self._render("counts", "fragments/counts.html", tabs=tabs)

        return await self._html.get(("counts", *sorted(counts.items())), render)

    async def bell_html(self, seq: int, agent: Agent) -> str:
        """The header's bell with the agent's unread count (their events only)."""

        async def render() -> str:
            async with self._rt.read_sessions() as db:
                unread = await unread_count(db, agent)
            return self._render(
                "bell", "_notification_bell.html", unread_notifications=unread, oob=True
            )

        return await self._html.get(("bell", seq, agent.id), render)

    async def stale_html(self) -> str:
        async def render() -> str:
            return self._render("status", "fragments/live_status.html", state="stale", oob=True)

        return await self._html.get(("status", "stale"), render)
