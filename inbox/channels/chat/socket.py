"""`/chat/socket`: the widget's live connection, in both directions, as JSON.

URL: `/chat/socket?inbox=<public key>&token=<visitor token>&after=<message id>`.
The Origin must be one the inbox allows; the token must be this inbox's.
On connect the server sends `{"type": "ready", "agents_online", "follow_up"}`,
then every message of the visitor's chat after `after` (the newest 200;
`after=0` for all), then live ones: nothing is missed across a reconnect,
because the widget resumes after the last id it showed.

Client -> server:
    {"type": "message", "client_id": "<widget-made id>", "text": "..."}
    {"type": "typing"} (every few seconds while drafting), {"type": "idle"}
    {"type": "email", "address": "..."}   (the offline form)
Server -> client:
    {"type": "message", "id", "mine", "text", "author", "at", "client_id"}
    {"type": "ack", "client_id", "id"}    (stored; a resend gets the same id)
    {"type": "typing", "typing": bool}    (an agent is typing; never who)
    {"type": "status", "agents_online": bool, "follow_up": bool}
    {"type": "follow_up", "address": "..."} | {"type": "error", "reason", "client_id"?}

A visitor's message is stored through ingest as an inbound live chat message
whose external id is made from the client id, so a resend stores nothing new.
Close codes as the agents' sockets: 4401 unknown token (or another inbox's),
4403 origin not allowed, 4400 bad parameters, 4408 fell behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from inbox.access import inbox_audience
from inbox.actions.live_chat import do_end_follow_up, do_leave_follow_up_email
from inbox.channels.base import InboundMessage
from inbox.channels.chat.presence import VisitorTyping, Where, anyone_online
from inbox.channels.chat.settings import chat_config, find_chat_inbox, origin_allowed
from inbox.channels.chat.visitors import (
    chat_line,
    chat_lines,
    external_id,
    site_user_value,
    visitor_by_token,
    visitor_customer_id,
)
from inbox.channels.ingest import ingest
from inbox.errors import InboxError
from inbox.events import MessageCreated, Published
from inbox.models import ChatVisitor, Customer, IdentityKind, Inbox
from inbox.profiles.identities import IdentityRef, ref
from inbox.realtime.hub import Signal, Subscription
from inbox.realtime.presence import PresenceChange
from inbox.realtime.socket_presence import RateLimit
from inbox.realtime.sockets import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHENTICATED,
)
from inbox.runtime import Runtime
from inbox.views.requests import runtime

log = logging.getLogger(__name__)

MAX_TEXT = 5000
_MAX_FRAME = 16 * 1024
_MESSAGE_BURST = 20
_MESSAGES_PER_SECOND = 0.5
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def visitor_identities(visitor: ChatVisitor) -> tuple[IdentityRef, ...]:
    """A verified visitor resolves through the site's user id first (joining the
    customer who has it); anyone else only through their own, new, visitor id."""
    own = ref(IdentityKind.LIVE_CHAT, visitor.public_id)
    if visitor.verified_user_id is None:
        return (own,)
    site_user = site_user_value(visitor.inbox_id, visitor.verified_user_id)
    return (ref(IdentityKind.LIVE_CHAT, site_user, verified=True), own)


class VisitorSocket:
    def __init__(
        self,
        ws: WebSocket,
        rt: Runtime,
        inbox: Inbox,
        visitor: ChatVisitor,
        sub: Subscription,
        audience: frozenset[int],
    ) -> None:
        self.ws = ws
        self.rt = rt
        self.inbox = inbox
        self.visitor = visitor
        self.sub = sub
        self.audience = audience
        self.last_id = 0
        self.where: Where | None = None
        self.typing = VisitorTyping(rt.hub, inbox.id, audience)
        self._send_lock = asyncio.Lock()
        # A person types a few messages a minute; a script flooding the inbox is cut off.
        self._messages = RateLimit(_MESSAGE_BURST, _MESSAGES_PER_SECOND)
        self._shown: dict[str, bool] = {}

    async def send(self, data: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send_text(json.dumps(data))

    async def _locate(self, customer_id: int | None, conversation_id: int | None) -> None:
        """Remember the visitor's customer and conversation, for replies and typing."""
        if customer_id is None:
            return
        self.sub.customer_id = customer_id
        if conversation_id is not None:
            async with self.rt.read_sessions() as db:
                customer = await db.get(Customer, customer_id)
            name = customer.display_name if customer is not None else "Visitor"
            self.where = Where(customer_id, conversation_id, name)

    async def send_state(self, *, force: bool = False) -> None:
        """Tell the widget whether anyone is there and whether an agent types, when it changed."""
        state = {
            "agents_online": anyone_online(self.rt.hub, self.audience),
            "typing": self.where is not None
            and self.rt.hub.presence.agents_typing(self.where.customer_id, self.inbox.id),
        }
        if force or state["agents_online"] != self._shown.get("agents_online"):
            await self.send(
                {
                    "type": "status",
                    "agents_online": state["agents_online"],
                    "follow_up": self.visitor.follow_up_email is not None,
                }
            )
        if state["typing"] != self._shown.get("typing", False):
            await self.send({"type": "typing", "typing": state["typing"]})
        self._shown = state

    async def replay(self, after: int) -> None:
        customer_id = self.sub.customer_id
        if customer_id is None:
            return
        async with self.rt.read_sessions() as db:
            lines = await chat_lines(db, self.visitor, customer_id, after=after)
        for line in lines:
            await self.send(line.to_json())
            self.last_id = max(self.last_id, line.id)
        if lines:
            await self._locate(customer_id, lines[-1].conversation_id)

    # --- from the widget --------------------------------------------------

    async def handle(self, text: str) -> None:
        if len(text) > _MAX_FRAME:
            await self.send({"type": "error", "reason": "message too large"})
            return
        try:
            data = json.loads(text)
        except ValueError:
            await self.send({"type": "error", "reason": "not JSON"})
            return
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "message":
            await self._message(data)
        elif kind == "typing":
            self.typing.typing(self.where)
        elif kind == "idle":
            self.typing.idle()
        elif kind == "email":
            await self._email(data)

    async def _message(self, data: dict[str, Any]) -> None:
        client_id, text = data.get("client_id"), data.get("text")
        if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
            await self.send({"type": "error", "reason": "client_id must be 1-64 of [A-Za-z0-9_-]"})
            return
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            await self.send(
                {
                    "type": "error",
                    "client_id": client_id,
                    "reason": f"a message has 1 to {MAX_TEXT} characters",
                }
            )
            return
        if not self._messages.take():
            await self.send(
                {"type": "error", "client_id": client_id, "reason": "too many messages; slow down"}
            )
            return
        inbound = InboundMessage(
            inbox_id=self.inbox.id,
            external_id=external_id(self.visitor, client_id),
            identities=visitor_identities(self.visitor),
            text=text.strip(),
            sender_name=self.visitor.display_name,
        )
        try:
            received = await ingest(self.rt, inbound)
        except InboxError as exc:
            await self.send({"type": "error", "client_id": client_id, "reason": exc.message})
            return
        message = received.message
        self.typing.idle()
        await self._locate(message.customer_id, message.conversation_id)
        self.last_id = max(self.last_id, message.id)
        await self.send({"type": "ack", "client_id": client_id, "id": message.id})
        if self.visitor.follow_up_email is not None and anyone_online(self.rt.hub, self.audience):
            # Chatting live again, with someone to answer: replies stay in the chat.
            await do_end_follow_up(self.rt, self.visitor.id)
            self.visitor.follow_up_email = None
            await self.send_state(force=True)

    async def _email(self, data: dict[str, Any]) -> None:
        address = data.get("address")
        if not isinstance(address, str) or len(address) > 320:
            await self.send({"type": "error", "reason": "address must be an email address"})
            return
        try:
            kept = await do_leave_follow_up_email(self.rt, self.visitor.id, address)
        except InboxError as exc:
            await self.send({"type": "error", "reason": exc.message})
            return
        self.visitor.follow_up_email = kept
        await self.send({"type": "follow_up", "address": kept})

    # --- to the widget ----------------------------------------------------

    async def deliver(self, item: Published | PresenceChange | Signal) -> None:
        if isinstance(item, PresenceChange):
            await self.send_state()
        elif item is Signal.TICK:
            # Who may see the inbox may have changed since the socket opened.
            async with self.rt.read_sessions() as db:
                self.audience = await inbox_audience(db, self.inbox.id)
            self.typing.audience = self.audience
            await self.send_state()
        elif isinstance(item, Published):
            event = item.event
            if (
                isinstance(event, MessageCreated)
                and event.direction == "outbound"
                and event.inbox_id == self.inbox.id
                and event.message_id > self.last_id
            ):
                async with self.rt.read_sessions() as db:
                    line = await chat_line(db, self.visitor, event.customer_id, event.message_id)
                if line is not None:
                    self.last_id = max(self.last_id, line.id)
                    await self.send(line.to_json())
                    await self._locate(event.customer_id, line.conversation_id)


async def _open(ws: WebSocket) -> tuple[Inbox, ChatVisitor, int] | None:
    """The inbox, visitor and resume point, or None once closed with the reason."""
    rt = runtime(ws)
    params = ws.query_params
    after_raw = params.get("after") or "0"
    async with rt.read_sessions() as db:
        inbox = await find_chat_inbox(db, params.get("inbox") or "")
        visitor = await visitor_by_token(db, params.get("token") or "")
    config = chat_config(inbox) if inbox is not None else None
    if inbox is None or config is None:
        await ws.accept()
        await ws.close(CLOSE_BAD_REQUEST, "no live chat with this key")
        return None
    if not origin_allowed(config, ws.headers.get("origin")):
        # Refused before accepting: the embedding page learns nothing more.
        await ws.close(CLOSE_FORBIDDEN_ORIGIN, "this site may not embed this chat")
        return None
    await ws.accept()
    if visitor is None or visitor.inbox_id != inbox.id:
        await ws.close(CLOSE_UNAUTHENTICATED, "unknown chat session; start a new one")
        return None
    if not after_raw.isdigit() or len(after_raw) > 18:
        await ws.close(CLOSE_BAD_REQUEST, "after must be a message id")
        return None
    return inbox, visitor, int(after_raw)


async def visitor_socket(ws: WebSocket) -> None:
    opened = await _open(ws)
    if opened is None:
        return
    inbox, visitor, after = opened
    rt = runtime(ws)
    # Subscribe first, then read: nothing committed in between is missed
    # (the replay's ids and the live ones are compared, never doubled).
    with rt.hub.subscribe_visitor() as sub:
        async with rt.read_sessions() as db:
            sub.customer_id = await visitor_customer_id(db, visitor)
            audience = await inbox_audience(db, inbox.id)
        chat = VisitorSocket(ws, rt, inbox, visitor, sub, audience)
        reader = asyncio.create_task(_read(ws, chat))
        try:
            await chat.send_state(force=True)
            await chat.replay(after)
            await chat.send_state()
            await _live(ws, chat, reader)
        except (WebSocketDisconnect, _Gone):
            pass
        finally:
            chat.typing.idle()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await reader


class _Gone(Exception):
    pass


async def _read(ws: WebSocket, chat: VisitorSocket) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if isinstance(text, str):
            try:
                await chat.handle(text)
            except InboxError as exc:
                await chat.send({"type": "error", "reason": exc.message})


async def _live(ws: WebSocket, chat: VisitorSocket, reader: asyncio.Task[None]) -> None:
    while True:
        getter = asyncio.create_task(chat.sub.queue.get())
        done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            raise _Gone
        item = getter.result()
        if item is None:
            await ws.close(CLOSE_TOO_SLOW, "fell behind; reconnect with after=<last id>")
            raise _Gone
        if isinstance(item, Signal) and item is Signal.REVOKED:
            continue
        await chat.deliver(item)
