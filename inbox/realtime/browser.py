"""`/ws`: the agent UI's live socket. It pushes HTML fragments, never JSON.

Protocol (the page opens it with htmx-ext-ws's `ws-connect`):

- URL: `/ws?page=list&view=..&status=..&inbox=..&since=SEQ`,
  `/ws?page=conversation&conversation=ID&since=SEQ` or
  `/ws?page=customer&customer=ID&since=SEQ`, `/ws?page=board&since=SEQ`.
  SEQ is the outbox position the page was rendered at (then, on
  reconnect, the last one it applied).
- Auth: the session cookie; the Origin must be this site (sockets.authenticate).
- The server subscribes, replays the events after SEQ from the outbox, then
  streams live ones. Each message is a batch of out-of-band swaps (see
  page_updates and templates/fragments/) ending with `#live-seq`, which
  records the batch's seq for the next reconnect. While idle, at the hub's
  heartbeat (every HEARTBEAT_SECONDS), it sends `#live-seq` alone.
- A SEQ older than the outbox keeps (resync), or a change of the agent's
  inbox access, pushes the "Out of date — reload" banner.
- Presence: the socket makes its agent online for as long as it is open
  (viewing the page's customer, if it shows one). The page sends small JSON
  messages when it is hidden or shown and while the agent types (see
  socket_presence); colleagues' presence arrives as fragments between
  events, without a seq (presence_updates).
- Close codes: 4400 bad parameters or a page the agent can't see, 4401 not
  signed in, 4403 foreign origin (refused before accepting), 4408 fell too
  far behind (the page shows "Out of date"), 4410 the agent was
  deactivated, 1011 a fragment failed to render (htmx-ext-ws reconnects and
  the replay retries it).
"""

from __future__ import annotations

import logging

from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from inbox.access import visible_inbox_ids
from inbox.errors import InboxError
from inbox.events import InboxAccessChanged, Published
from inbox.models import Agent
from inbox.realtime.feed import Resync, open_feed
from inbox.realtime.page_context import BoardContext, parse_page, resolve_page
from inbox.realtime.page_updates import Viewer, composer_after_inbox_change, page_updates
from inbox.realtime.presence import PresenceChange
from inbox.realtime.presence_updates import presence_updates
from inbox.realtime.render import Renderer, seq_marker
from inbox.realtime.socket_loop import SocketClosed, serve_feed
from inbox.realtime.socket_presence import SocketPresence, whereabouts
from inbox.realtime.sockets import CLOSE_BAD_REQUEST, open_socket
from inbox.runtime import Runtime
from inbox.views.requests import runtime

log = logging.getLogger(__name__)

CLOSE_RENDER_FAILED = 1011


def renderer_for(conn: HTTPConnection) -> Renderer:
    """The process's one renderer, shared by all of its browser sockets."""
    state = conn.app.state
    renderer: Renderer | None = getattr(state, "live_renderer", None)
    if renderer is None:
        renderer = state.live_renderer = Renderer(runtime(conn))
    return renderer


async def browser_socket(ws: WebSocket) -> None:
    opened = await open_socket(ws)
    if opened is None:
        return
    agent = opened.agent
    rt = runtime(ws)
    try:
        viewer, presence = await _open_viewer(rt, agent, ws)
    except InboxError as exc:
        await ws.close(CLOSE_BAD_REQUEST, exc.message[:120])
        return
    renderer = renderer_for(ws)

    async def send_item(item: Published | Resync | PresenceChange) -> None:
        if isinstance(item, Resync):
            await ws.send_text(await renderer.stale_html() + seq_marker(item.seq))
        elif isinstance(item, PresenceChange):
            parts = presence_updates(item, viewer, rt.hub.presence)
            if parts:
                await ws.send_text("".join(parts))
        else:
            await _push(ws, rt, item, viewer, renderer, presence)

    async def send_idle(seq: int) -> None:
        # Also tells a page that just caught up where it stands.
        await ws.send_text(seq_marker(seq))

    board = isinstance(viewer.page, BoardContext)
    async with open_feed(
        rt,
        agent.id,
        credential=opened.credential,
        presence=True,
        availability=board,
    ) as feed:
        presence.start()
        try:
            await serve_feed(
                ws,
                feed,
                opened.since,
                agent_id=agent.id,
                send_item=send_item,
                send_idle=send_idle,
                on_message=presence.handle,
            )
        finally:
            presence.stop()


async def _open_viewer(rt: Runtime, agent: Agent, ws: WebSocket) -> tuple[Viewer, SocketPresence]:
    request = parse_page(ws.query_params)
    async with rt.read_sessions() as db:
        page = await resolve_page(db, agent, request)
        inbox_ids = frozenset(await visible_inbox_ids(db, agent))
        where = await whereabouts(db, agent, page)
    return Viewer(agent, page, inbox_ids), SocketPresence(rt.hub, agent, where)


async def _push(
    ws: WebSocket,
    rt: Runtime,
    published: Published,
    viewer: Viewer,
    renderer: Renderer,
    presence: SocketPresence,
) -> None:
    event = published.event
    try:
        if isinstance(event, InboxAccessChanged):
            # What the page lists may have changed under it: reload is honest.
            # Who may see this agent's presence may have changed too.
            async with rt.read_sessions() as db:
                viewer.inbox_ids = frozenset(await visible_inbox_ids(db, viewer.agent))
                presence.moved(await whereabouts(db, viewer.agent, viewer.page))
            parts = [
                await renderer.stale_html(),
                *await composer_after_inbox_change(published, event.inbox_id, viewer, renderer),
            ]
        else:
            parts = await page_updates(published, viewer, renderer)
    except Exception:
        log.exception("rendering live fragments for event %s failed", published.seq)
        await ws.close(CLOSE_RENDER_FAILED, "could not render an update; reconnect")
        raise SocketClosed from None
    if any(parts):
        await ws.send_text("".join(parts) + seq_marker(published.seq))
