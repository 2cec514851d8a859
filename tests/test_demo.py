"""`inbox demo` loads a team that looks like it has been working: checked as a user sees it."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import func, select

from inbox.access import visible_inbox_ids
from inbox.auth import authenticate_password
from inbox.demo import load_demo
from inbox.demo_data import PASSWORD
from inbox.models import (
    Agent,
    AuditEntry,
    Conversation,
    Customer,
    CustomerNote,
    CustomerTag,
    Direction,
    Inbox,
    Message,
    OutboxEvent,
    Purchase,
    Role,
    Status,
)
from inbox.runtime import Runtime
from tests.conftest import make_settings


async def _count(rt: Runtime, model: type[object]) -> int:
    async with rt.read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_demo_loads_a_working_team_once(
    rt: Runtime, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await load_demo(make_settings(database_url), conversations=20)
    printed = capsys.readouterr()
    assert "admin@demo.inbox.test" in printed.out and PASSWORD in printed.out
    assert "Loading conversations" in printed.err

    async with rt.read_sessions() as session:
        # Every role exists and can sign in with the printed password.
        for email, role in [
            ("admin@demo.inbox.test", Role.ADMIN),
            ("lena@demo.inbox.test", Role.LEAD),
            ("ana@demo.inbox.test", Role.AGENT),
        ]:
            agent = await authenticate_password(session, email, PASSWORD)
            assert agent is not None and agent.role is role

        channels = set((await session.scalars(select(Inbox.channel))).all())
        assert len(channels) >= 5

        conversations = (await session.scalars(select(Conversation))).all()
        assert len(conversations) == 20
        states = {(c.status, c.assignee_id is not None) for c in conversations}
        assert (Status.OPEN, False) in states  # waiting in the queue
        assert (Status.OPEN, True) in states
        assert any(status is Status.PENDING for status, _ in states)
        assert any(status is Status.RESOLVED for status, _ in states)
        assert all(c.assignee_id is not None for c in conversations if c.status != Status.OPEN)

        # A customer's timeline interleaves channels: inbox A, then B, then A again.
        rows = (
            await session.execute(
                select(Message.customer_id, Inbox.channel, Message.created_at)
                .join(Inbox, Inbox.id == Message.inbox_id)
                .order_by(Message.customer_id, Message.created_at)
            )
        ).all()
        timelines: dict[int, list[str]] = defaultdict(list)
        for customer_id, channel, _ in rows:
            if not timelines[customer_id] or timelines[customer_id][-1] != channel:
                timelines[customer_id].append(channel)
        assert any(len(t) > len(set(t)) >= 2 for t in timelines.values())

        notes = await session.scalar(
            select(func.count()).where(Message.direction == Direction.NOTE)
        )
        assert notes and await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.direction == Direction.NOTE, Message.text.contains("@Lena"))
        )
        for model in (Purchase, CustomerNote, CustomerTag, AuditEntry, OutboxEvent):
            assert await session.scalar(select(func.count()).select_from(model)), model
        attributes = (await session.scalars(select(Customer.attributes))).all()
        assert any({"plan", "country", "language"} <= set(a) for a in attributes)

        # Access control shows: not every agent sees every inbox.
        everything = set((await session.scalars(select(Inbox.id))).all())
        seen = {}
        for key in ("ana", "olga", "noah", "admin"):
            agent = await session.scalar(
                select(Agent).where(Agent.email == f"{key}@demo.inbox.test")
            )
            assert agent is not None
            seen[key] = await visible_inbox_ids(session, agent)
        assert seen["admin"] == everything
        assert seen["ana"] < everything and seen["olga"] < everything
        assert not seen["olga"] >= seen["ana"]
        assert len(seen["noah"]) == 1  # in no team: only the chat granted to him directly

    # A second run refuses and adds nothing. (Checked here rather than in a test
    # of its own: hashing the agents' passwords is most of a load's time.)
    counted = (Agent, Customer, Conversation, Message, OutboxEvent, AuditEntry)
    before = [await _count(rt, model) for model in counted]
    with pytest.raises(RuntimeError, match=r"already loaded in .*fresh INBOX_DATA_DIR"):
        await load_demo(make_settings(database_url), conversations=20)
    assert [await _count(rt, model) for model in counted] == before


def test_demo_content_is_the_same_every_run() -> None:
    from datetime import UTC, datetime
    from random import Random

    from inbox.demo_data import SEED
    from inbox.demo_plan import plan_demo

    now = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)

    def shape(total: int) -> list[tuple[str, str, list[tuple[datetime, str, str]]]]:
        plans = plan_demo(Random(SEED), now, total)
        return [
            (p.customer.name, p.inbox.key, [(s.at, s.kind, s.text) for s in p.steps]) for p in plans
        ]

    assert shape(30) == shape(30)
    assert len(shape(30)) == 30 and len(shape(0)) == 5  # the two scripted stories' conversations
    assert all(s.at < now for p in plan_demo(Random(SEED), now, 120) for s in p.steps)
