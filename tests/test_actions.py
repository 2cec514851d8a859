"""The actions layer: rows, audit and outbox commit together; audiences are exact."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from inbox.actions.agents import do_create_agent, do_deactivate_agent
from inbox.actions.conversations import (
    do_assign_conversation,
    do_claim_conversation,
    do_release_conversation,
    do_set_status,
)
from inbox.actions.messages import do_post_note, do_post_reply
from inbox.channels.ingest import ingest
from inbox.errors import BadRequest, Conflict, Forbidden, NotFound
from inbox.models import AuditEntry, Conversation, Message, OutboxEvent, Status
from inbox.runtime import Runtime
from tests.conftest import World
from tests.helpers import captured_events, inbound


async def count(rt: Runtime, model: type) -> int:
    async with rt.read_sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


def support_audience(world: World) -> frozenset[int]:
    return frozenset({world.admin.id, world.lead.id, world.ana.id, world.ben.id})


async def test_inbound_message_reaches_exactly_the_inbox_agents(rt: Runtime, world: World) -> None:
    with captured_events(rt) as events:
        received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    assert received.created
    assert [p.event.type for p in events] == ["conversation.created", "message.created"]
    for p in events:
        # Olga (Sales only) is not told; admins always are.
        assert p.audience.agent_ids == support_audience(world)
        assert p.audience.customer_id is None
    assert [p.seq for p in events] == sorted(p.seq for p in events)


async def test_private_note_never_addresses_the_customer(rt: Runtime, world: World) -> None:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    with captured_events(rt) as events:
        await do_post_note(rt, world.ana, conv_id, "Checking with the warehouse")
        await do_post_reply(rt, world.ana, conv_id, "We are on it")
    note, claim, reply = events
    assert note.event.type == "message.created" and note.event.direction == "note"  # type: ignore[attr-defined]
    assert note.audience.customer_id is None
    assert note.audience.agent_ids == support_audience(world)
    assert claim.event.type == "conversation.assigned"
    assert reply.event.direction == "outbound"  # type: ignore[attr-defined]
    assert reply.audience.customer_id == received.message.customer_id


async def test_every_action_writes_audit_and_outbox_in_its_transaction(
    rt: Runtime, world: World
) -> None:
    received = await ingest(rt, inbound(world.chat_inbox.id, chat_id="visitor-1"))
    before_events, before_audit = await count(rt, OutboxEvent), await count(rt, AuditEntry)
    await do_claim_conversation(rt, world.ben, received.message.conversation_id)
    assert await count(rt, OutboxEvent) == before_events + 1
    assert await count(rt, AuditEntry) == before_audit + 1


async def test_failed_action_commits_nothing_and_publishes_nothing(
    rt: Runtime, world: World
) -> None:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    before = await count(rt, OutboxEvent), await count(rt, Message)
    with captured_events(rt) as events, pytest.raises(BadRequest):
        await do_post_note(rt, world.ana, received.message.conversation_id, "   ")
    assert events == []
    assert (await count(rt, OutboxEvent), await count(rt, Message)) == before


async def test_ingest_is_idempotent_per_inbox_and_external_id(rt: Runtime, world: World) -> None:
    message = inbound(world.email_inbox.id, email="maria@example.test", external_id="<a@b>")
    first = await ingest(rt, message)
    again = await ingest(rt, message)
    assert first.created and not again.created
    assert again.message.id == first.message.id
    # The same provider id in another inbox is another message.
    other = await ingest(rt, inbound(world.chat_inbox.id, chat_id="v-9", external_id="<a@b>"))
    assert other.created
    assert await count(rt, Message) == 2


async def test_concurrent_redelivery_stores_one_message(rt: Runtime, world: World) -> None:
    message = inbound(world.email_inbox.id, email="maria@example.test", external_id="dup-1")
    results = await asyncio.gather(*(ingest(rt, message) for _ in range(8)))
    assert sum(r.created for r in results) == 1
    assert len({r.message.id for r in results}) == 1
    assert await count(rt, Message) == 1


async def test_one_customer_across_channels(rt: Runtime, world: World) -> None:
    by_email = await ingest(rt, inbound(world.email_inbox.id, email="Maria@Example.test"))
    # Chat visitor who gives the same email is the same customer.
    by_chat = await ingest(
        rt, inbound(world.chat_inbox.id, chat_id="visitor-7", email="maria@example.test")
    )
    assert by_chat.message.customer_id == by_email.message.customer_id
    assert by_chat.message.conversation_id != by_email.message.conversation_id


async def test_claim_race_has_exactly_one_winner(rt: Runtime, world: World) -> None:
    agents = []
    for i in range(24):
        created = await do_create_agent(
            rt, None, email=f"racer{i}@example.test", name=f"Racer {i}", password="password123"
        )
        agents.append(created.agent)
    from inbox.actions.inboxes import do_grant_inbox_access

    for agent in agents:
        await do_grant_inbox_access(rt, None, world.email_inbox.id, agent_id=agent.id)
    conv_ids = []
    for n in range(5):
        received = await ingest(rt, inbound(world.email_inbox.id, email=f"c{n}@example.test"))
        conv_ids.append(received.message.conversation_id)

    async def attempt(agent: object, conv_id: int) -> int | None:
        try:
            await do_claim_conversation(rt, agent, conv_id)  # type: ignore[arg-type]
            return agent.id  # type: ignore[attr-defined,no-any-return]
        except Conflict as exc:
            assert exc.message.startswith("already claimed by Racer")
            return None

    outcomes = await asyncio.gather(*(attempt(a, c) for c in conv_ids for a in agents))
    async with rt.read_sessions() as db:
        for i, conv_id in enumerate(conv_ids):
            winners = [w for w in outcomes[i * len(agents) : (i + 1) * len(agents)] if w]
            assert len(winners) == 1
            conv = await db.get(Conversation, conv_id)
            assert conv is not None and conv.assignee_id == winners[0]


async def test_claim_someone_elses_conversation_names_the_holder(rt: Runtime, world: World) -> None:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    await do_claim_conversation(rt, world.ana, conv_id)
    with pytest.raises(Conflict, match="already claimed by Ana"):
        await do_claim_conversation(rt, world.ben, conv_id)
    # Claiming again as the holder is harmless.
    again = await do_claim_conversation(rt, world.ana, conv_id)
    assert again.assignee_id == world.ana.id


async def test_agent_cannot_reply_over_a_colleague_but_a_lead_can(
    rt: Runtime, world: World
) -> None:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    await do_claim_conversation(rt, world.ana, conv_id)
    with pytest.raises(Conflict, match="Ana is handling"):
        await do_post_reply(rt, world.ben, conv_id, "Hi!")
    await do_post_note(rt, world.ben, conv_id, "Notes are always fine")
    await do_post_reply(rt, world.lead, conv_id, "Lead stepping in")


async def test_only_leads_assign_to_others(rt: Runtime, world: World) -> None:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    with pytest.raises(Forbidden):
        await do_assign_conversation(rt, world.ana, conv_id, assignee_id=world.ben.id)
    conv = await do_assign_conversation(rt, world.lead, conv_id, assignee_id=world.ben.id)
    assert conv.assignee_id == world.ben.id
    # Olga can't see the Support inbox, so she can't be given its work.
    with pytest.raises(BadRequest):
        await do_assign_conversation(rt, world.lead, conv_id, assignee_id=world.olga.id)
    with pytest.raises(Forbidden):
        await do_release_conversation(rt, world.ana, conv_id)
    released = await do_release_conversation(rt, world.ben, conv_id)
    assert released.assignee_id is None


async def test_invisible_conversation_is_not_found(rt: Runtime, world: World) -> None:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    for action in (
        lambda: do_claim_conversation(rt, world.olga, conv_id),
        lambda: do_post_note(rt, world.olga, conv_id, "peek"),
        lambda: do_set_status(rt, world.olga, conv_id, Status.RESOLVED),
        lambda: do_claim_conversation(rt, world.ana, 999_999),
    ):
        with pytest.raises(NotFound):
            await action()


async def test_status_changes_and_customer_reply_reopens_pending(rt: Runtime, world: World) -> None:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    await do_set_status(rt, world.ana, conv_id, Status.PENDING)
    with captured_events(rt) as events:
        again = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    assert again.message.conversation_id == conv_id
    assert "conversation.status_changed" in [p.event.type for p in events]
    async with rt.read_sessions() as db:
        conv = await db.get(Conversation, conv_id)
        assert conv is not None and conv.status is Status.OPEN
    await do_set_status(rt, world.ana, conv_id, Status.RESOLVED)
    # After resolution, a new message opens a new conversation.
    later = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    assert later.message.conversation_id != conv_id


async def test_deactivation_tells_the_agent_and_admins(rt: Runtime, world: World) -> None:
    with captured_events(rt) as events:
        await do_deactivate_agent(rt, world.admin, world.ben.id)
    (deactivated,) = events
    assert deactivated.event.type == "agent.deactivated"
    assert deactivated.audience.agent_ids == frozenset({world.ben.id, world.admin.id})
    with pytest.raises(Forbidden):
        await do_deactivate_agent(rt, world.lead, world.ana.id)


async def test_direct_message_reaches_only_the_two_colleagues(rt: Runtime, world: World) -> None:
    from inbox.actions.direct_messages import do_send_direct_message

    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    with captured_events(rt) as events:
        dm = await do_send_direct_message(
            rt, world.ana, world.lead.id, "Can you approve this refund?", conversation_id=conv_id
        )
    by_type = {p.event.type: p for p in events}
    published = by_type["direct_message.created"]
    assert published.audience.agent_ids == frozenset({world.ana.id, world.lead.id})
    assert published.audience.customer_id is None
    # The recipient alone is notified.
    assert by_type["notification.created"].audience.agent_ids == frozenset({world.lead.id})
    assert len(events) == 2
    assert dm.customer_id == received.message.customer_id
    # Olga can't point at a case she can't see.
    with pytest.raises(NotFound):
        await do_send_direct_message(rt, world.olga, world.ana.id, "hi", conversation_id=conv_id)
