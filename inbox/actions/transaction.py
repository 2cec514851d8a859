"""The unit of work every action runs in: rows, audit and outbox commit together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from enum import IntEnum
from typing import Any, cast

from sqlalchemy import Table, insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.events import Audience, EventBase, Published
from inbox.models import Agent, AuditEntry, OutboxEvent
from inbox.models.base import utcnow
from inbox.runtime import Runtime

# The tables, not the mapped classes: plain Core INSERTs, no ORM bulk path.
_AUDIT = cast(Table, AuditEntry.__table__)
_OUTBOX = cast(Table, OutboxEvent.__table__)

# Any fixed key works; it only has to be the same for every writer.
_OUTBOX_LOCK_KEY = 0x1B0C5E9


class LockSpace(IntEnum):
    """The first key of PostgreSQL's two-key advisory locks, one per kind of
    thing locked; the two-key form never meets the outbox's single-key lock."""

    FIRST_CONTACT = 1
    AUTO_REPLY_ADDRESS = 2


async def lock_keys(session: AsyncSession, space: LockSpace, keys: Iterable[str]) -> None:
    """Hold a transaction-long lock on each key, on PostgreSQL.

    Sorted, so two transactions take the same keys in the same order and never
    deadlock. SQLite serialises writers already, so there it does nothing.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(:space, hashtext(k))"
            " FROM unnest(CAST(:keys AS text[])) AS k"
        ),
        {"space": int(space), "keys": sorted(set(keys))},
    )


async def insert_in_order(
    session: AsyncSession,
    target: Table | type[Any],
    returning: Any,
    rows: list[dict[str, Any]],
    *,
    key: Callable[[Any], int],
) -> list[Any]:
    """Insert `rows` in one multi-row INSERT; `returning` of each, in `rows`' order.

    `key` gives a returned item's new primary key. On SQLite, SQLAlchemy keeps
    the order only by sending one INSERT per row, so instead the rows go in
    one INSERT, which numbers them in VALUES order (the only writer, keys
    counting up); only RETURNING's order is unspecified, so it is sorted.
    """
    if not rows:
        return []
    statement = insert(target)
    # An ORM insert leaves a None out of its row, and rows that name different
    # columns can't share a statement: without this, a batch whose messages
    # alternate between having HTML and not went in as one INSERT per two rows.
    nulls = {"render_nulls": True}
    if session.get_bind().dialect.name == "postgresql":
        ordered = statement.returning(returning, sort_by_parameter_order=True)
        return list(await session.scalars(ordered, rows, execution_options=nulls))
    returned = await session.scalars(statement.returning(returning), rows, execution_options=nulls)
    return sorted(returned, key=key)


class Transaction:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._pending: list[tuple[EventBase, Audience]] = []
        self._audits: list[dict[str, Any]] = []
        self.published: list[Published] = []

    def emit(self, event: EventBase, audience: Audience) -> None:
        """Queue an event; it is written to the outbox with this transaction."""
        self._pending.append((event, audience))

    def audit(
        self,
        actor: Agent | None,
        action: str,
        target_type: str,
        target_id: int | None,
        **data: Any,
    ) -> None:
        # Written with the outbox, in one multi-row INSERT: nothing reads an
        # action's own audit back, and ORM objects cost more than the rows.
        self._audits.append(
            {
                "actor_agent_id": actor.id if actor else None,
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
                "data": data,
                "created_at": utcnow(),
            }
        )

    async def _write_log(self) -> None:
        """The audit entries and the outbox, at the end of the transaction."""
        if self._audits:
            await self.session.execute(insert(_AUDIT), self._audits)
            self._audits = []
        if self._pending:
            await self._write_outbox()

    async def _write_outbox(self) -> None:
        postgres = self.session.get_bind().dialect.name == "postgresql"
        if postgres:
            # Serialise outbox writers for the rest of this transaction, so
            # sequence numbers become visible in order: a reader resuming at
            # seq N can never later find a committed event below N.
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:k)"), {"k": _OUTBOX_LOCK_KEY}
            )
        now = utcnow()
        rows = [
            {
                "type": event.type,
                "payload": event.model_dump(mode="json"),
                "audience": audience.to_json(),
                "created_at": now,
            }
            for event, audience in self._pending
        ]
        seqs = await insert_in_order(self.session, _OUTBOX, _OUTBOX.c.seq, rows, key=int)
        self.published = [
            Published(seq, event, audience)
            for seq, (event, audience) in zip(seqs, self._pending, strict=True)
        ]


@asynccontextmanager
async def transaction(rt: Runtime) -> AsyncIterator[Transaction]:
    """Run an action's writes; commit; then publish what it emitted.

    If the block raises, nothing is committed and nothing is published.
    """
    async with rt.write_sessions() as session, session.begin():
        tx = Transaction(session)
        yield tx
        await tx._write_log()
    for published in tx.published:
        await rt.hub.publish(published)
