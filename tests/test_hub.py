"""The hub delivers every committed event once, in order, whatever the transport does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from channels.layers import InMemoryChannelLayer

from inbox.channels.ingest import ingest
from inbox.events import Published
from inbox.realtime.hub import Hub, Subscription
from inbox.realtime.transport import LayerTransport
from inbox.runtime import Runtime
from tests.conftest import World
from tests.helpers import inbound


async def drain(sub: Subscription, count: int) -> list[Published]:
    got = []
    async with asyncio.timeout(5):
        while len(got) < count:
            got.append(await sub.queue.get())
    return got


@pytest.fixture
async def layer() -> InMemoryChannelLayer:
    return InMemoryChannelLayer(capacity=1000)


@pytest.fixture
async def other_process(rt: Runtime, layer: InMemoryChannelLayer) -> AsyncIterator[Hub]:
    """A second process's hub: same database, same layer, its own subscribers."""
    hub = Hub(rt.read_sessions, LayerTransport(layer), poll_interval=30)
    await hub.start()
    yield hub
    await hub.close()


async def test_events_reach_another_process_in_order(
    rt: Runtime, world: World, layer: InMemoryChannelLayer, other_process: Hub
) -> None:
    rt.hub = Hub(rt.read_sessions, LayerTransport(layer), poll_interval=30)
    await rt.hub.start()
    try:
        with other_process.subscribe(world.ana.id) as sub:
            for n in range(5):
                await ingest(rt, inbound(world.email_inbox.id, email=f"c{n}@example.test"))
            got = await drain(sub, 10)
        seqs = [p.seq for p in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == 10
        assert {p.event.type for p in got} == {"conversation.created", "message.created"}
    finally:
        await rt.hub.close()


async def test_a_gap_is_read_back_from_the_outbox(
    rt: Runtime, world: World, layer: InMemoryChannelLayer, other_process: Hub
) -> None:
    seen_before = other_process.last_seq or 0
    # Committed without fan-out: the transport "lost" these two events.
    await ingest(rt, inbound(world.email_inbox.id, email="a@example.test"))
    rt.hub = Hub(rt.read_sessions, LayerTransport(layer), poll_interval=30)
    await rt.hub.start()
    try:
        with other_process.subscribe(None) as sub:
            # The next event arrives over the transport; the hub fills the gap first.
            await ingest(rt, inbound(world.email_inbox.id, email="b@example.test"))
            got = await drain(sub, 4)
        assert [p.seq for p in got] == [seen_before + n for n in (1, 2, 3, 4)]
    finally:
        await rt.hub.close()


async def test_the_outbox_poll_delivers_what_no_transport_carried(
    rt: Runtime, world: World
) -> None:
    watcher = Hub(rt.read_sessions, transport=None, poll_interval=0.05)
    await watcher.start()
    try:
        with watcher.subscribe(world.ben.id) as sub:
            # `rt`'s hub is not started: nothing is sent over any transport.
            await ingest(rt, inbound(world.chat_inbox.id, chat_id="v-1"))
            got = await drain(sub, 2)
        assert [p.event.type for p in got] == ["conversation.created", "message.created"]
    finally:
        await watcher.close()


async def test_subscribers_only_get_their_audience(rt: Runtime, world: World) -> None:
    with rt.hub.subscribe(world.olga.id) as olga, rt.hub.subscribe(world.ana.id) as ana:
        await ingest(rt, inbound(world.email_inbox.id, email="c@example.test"))
        await ingest(rt, inbound(world.sales_inbox.id, phone="+34612345678"))
        assert {p.event.inbox_id for p in await drain(ana, 2)} == {world.email_inbox.id}  # type: ignore[attr-defined]
        assert {p.event.inbox_id for p in await drain(olga, 2)} == {world.sales_inbox.id}  # type: ignore[attr-defined]
        assert ana.queue.empty() and olga.queue.empty()


async def test_a_slow_subscriber_overflows_without_blocking_others(
    rt: Runtime, world: World
) -> None:
    rt.hub._queue_size = 3
    with rt.hub.subscribe(world.ana.id) as slow, rt.hub.subscribe(None) as everyone:
        for n in range(3):
            await ingest(rt, inbound(world.email_inbox.id, email=f"s{n}@example.test"))
        assert slow.overflowed
        # Three events and the marker that tells the reader it fell behind.
        assert slow.queue.qsize() == 4
        # The other subscriber is unaffected up to its own bound.
        assert everyone.overflowed and everyone.queue.qsize() == 4


async def test_a_layer_nobody_else_joined_is_not_sent_to(
    rt: Runtime, world: World, layer: InMemoryChannelLayer
) -> None:
    # The embedded default: the process's own in-process layer. Its subscribers
    # still get every event; the layer carries none (it could only echo them).
    sent: list[dict[str, object]] = []
    group_send = layer.group_send

    async def counting(group: str, message: dict[str, object]) -> None:
        sent.append(message)
        await group_send(group, message)

    layer.group_send = counting  # type: ignore[method-assign]
    rt.hub = Hub(rt.read_sessions, LayerTransport(layer), poll_interval=30)
    await rt.hub.start()
    try:
        with rt.hub.subscribe(world.ana.id) as sub:
            await ingest(rt, inbound(world.email_inbox.id, email="alone@example.test"))
            got = await drain(sub, 2)
        assert {p.event.type for p in got} == {"conversation.created", "message.created"}
        await asyncio.sleep(0.05)  # what the send loop would have sent by now
        assert sent == []
        # Once another hub joins, events go out again.
        other = Hub(rt.read_sessions, LayerTransport(layer), poll_interval=30)
        await other.start()
        try:
            with other.subscribe(world.ana.id) as theirs:
                await ingest(rt, inbound(world.email_inbox.id, email="joined@example.test"))
                assert len(await drain(theirs, 2)) == len(sent) == 2
        finally:
            await other.close()
    finally:
        await rt.hub.close()
