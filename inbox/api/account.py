"""Who is calling, and which inboxes they may see."""

from __future__ import annotations

from sqlalchemy import select

from inbox.access import visible_inbox_ids
from inbox.models import Inbox

from .registry import Call, Endpoint
from .schemas import InboxListOut, MeOut
from .serialise import agent_out, inbox_out


async def get_me(call: Call) -> MeOut:
    """The agent the token or session belongs to."""
    return MeOut(agent=agent_out(call.agent))


async def list_inboxes(call: Call) -> InboxListOut:
    """The inboxes the agent may see, by id. Channel credentials are never included."""
    async with call.rt.read_sessions() as db:
        visible = await visible_inbox_ids(db, call.agent)
        inboxes = (
            await db.scalars(select(Inbox).where(Inbox.id.in_(sorted(visible))).order_by(Inbox.id))
        ).all()
    return InboxListOut(inboxes=[inbox_out(i) for i in inboxes])


ENDPOINTS = [
    Endpoint("GET", "/me", "The calling agent", get_me, MeOut, tag="account"),
    Endpoint(
        "GET", "/inboxes", "Inboxes the agent may see", list_inboxes, InboxListOut, tag="account"
    ),
]
