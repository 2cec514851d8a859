"""What grows by itself is kept in bounds, and nothing anyone wrote goes with it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from inbox.actions.housekeeping import do_prune_idle_chat_visitors
from inbox.actions.live_chat import do_leave_follow_up_email, do_start_visitor
from inbox.channels.ingest import ingest
from inbox.models import ChatVisitor, utcnow
from inbox.runtime import Runtime
from tests.chat_support import chat_inbox
from tests.conftest import World
from tests.helpers import inbound


async def test_chat_sessions_that_never_wrote_are_forgotten_once_old(
    rt: Runtime, world: World
) -> None:
    inbox_id = (await chat_inbox(rt, world)).inbox.id
    idle, wrote, left_address, fresh = [
        (await do_start_visitor(rt, inbox_id)).visitor for _ in range(4)
    ]
    await ingest(rt, inbound(inbox_id, chat_id=wrote.public_id, text="Hello?"))
    await do_leave_follow_up_email(rt, left_address.id, "later@example.test")
    async with rt.write_sessions() as db, db.begin():
        await db.execute(
            update(ChatVisitor)
            .where(ChatVisitor.id.in_([idle.id, wrote.id, left_address.id]))
            .values(created_at=utcnow() - timedelta(days=2))
        )

    assert await do_prune_idle_chat_visitors(rt) == 1
    async with rt.read_sessions() as db:
        kept = set((await db.scalars(select(ChatVisitor.id))).all())
    assert kept == {wrote.id, left_address.id, fresh.id}
    assert await do_prune_idle_chat_visitors(rt) == 0
