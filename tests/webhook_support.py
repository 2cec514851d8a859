"""What the provider webhook tests share: fixtures on disk, inboxes, and what got stored."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from inbox.actions.inboxes import do_create_inbox
from inbox.models import ChannelKind, Customer, Identity, Inbox, Message
from inbox.runtime import Runtime
from tests.conftest import World

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(provider: str, name: str) -> bytes:
    """A saved payload's exact bytes (signatures cover them as they are)."""
    path = FIXTURES / provider / name
    raw = path.read_bytes()
    # Form bodies are kept one per line; the trailing newline is the editor's.
    return raw.rstrip(b"\n") if path.suffix == ".txt" else raw


async def make_inbox(
    rt: Runtime, world: World, channel: ChannelKind, secrets: dict[str, str], **config: Any
) -> Inbox:
    return await do_create_inbox(
        rt,
        None,
        name=f"{channel.value} inbox",
        channel=channel,
        config=config,
        secrets=secrets,
        team_ids=[world.support.id],  # type: ignore[attr-defined]
    )


async def stored(rt: Runtime) -> list[Message]:
    """Every message, oldest first."""
    async with rt.read_sessions() as db:
        return list((await db.scalars(select(Message).order_by(Message.id))).all())


async def count(rt: Runtime, model: type[Any]) -> int:
    async with rt.read_sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def sender_of(rt: Runtime, message: Message) -> tuple[str, list[tuple[str, str]]]:
    """The customer's name and identities (kind, value)."""
    async with rt.read_sessions() as db:
        customer = await db.get(Customer, message.customer_id)
        assert customer is not None
        rows = await db.scalars(
            select(Identity).where(Identity.customer_id == customer.id).order_by(Identity.id)
        )
        return customer.name, [(i.kind.value, i.value) for i in rows]


async def replayed_concurrently(
    send: Callable[[], Awaitable[httpx.Response]], times: int = 5
) -> list[httpx.Response]:
    """The same delivery, `times` at once, as a provider retrying on a timeout does."""
    return list(await asyncio.gather(*(send() for _ in range(times))))
