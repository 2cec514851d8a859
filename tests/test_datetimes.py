"""Times are stored in UTC and read back aware, whatever zone they were given in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from inbox.actions.transaction import transaction
from inbox.models import Customer
from inbox.runtime import Runtime

LISBON_SUMMER = timezone(timedelta(hours=1))


async def test_a_time_round_trips_as_utc_and_orders_by_time(rt: Runtime) -> None:
    early = datetime(2026, 7, 1, 9, 30, 0, tzinfo=LISBON_SUMMER)  # 08:30 UTC, no microseconds
    late = datetime(2026, 7, 1, 8, 30, 0, 250, tzinfo=UTC)
    async with transaction(rt) as tx:
        for name, at in (("late", late), ("early", early)):
            tx.session.add(Customer(name=name, created_at=at, updated_at=at))
    async with rt.read_sessions() as db:
        rows = (
            await db.execute(
                select(Customer.name, Customer.created_at)
                .where(Customer.created_at >= early)
                .order_by(Customer.created_at)
            )
        ).all()
        stored = await db.scalar(text("SELECT created_at FROM customers WHERE name = 'early'"))
    assert rows == [("early", early), ("late", late)]
    assert rows[0][1].tzinfo is not None
    if rt.engine.dialect.name == "sqlite":
        # SQLite keeps text: the same text SQLAlchemy's own DATETIME type writes,
        # microseconds always included, so text order is time order.
        assert stored == "2026-07-01 08:30:00.000000"


async def test_a_naive_time_is_refused(rt: Runtime) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with transaction(rt) as tx:
            tx.session.add(Customer(name="naive", created_at=datetime(2026, 7, 1, 9, 30)))
