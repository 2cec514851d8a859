"""Importing purchases in bulk (CSV rows), idempotent on (customer, reference).

One transaction per call, a handful of statements whatever the batch size:
find the customers (by id, following merges, or by email/phone identity),
keep those the agent may see, read which references they hold already, add
the rest. A row repeating a purchase already there (or earlier in the same
file) is counted as unchanged; one that names a known reference with other
details, or a customer that can't be found, is reported with its line, and
every other row is still imported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from inbox.access import visible_inbox_ids
from inbox.models import Agent, Conversation, Customer, Purchase, utcnow
from inbox.profiles.identities import IdentityRef, identity_holders
from inbox.profiles.purchase_csv import CsvRow, RowProblem, Who, read_purchases
from inbox.profiles.purchases import same_purchase
from inbox.runtime import Runtime

from .customers import announce_change, new_purchase
from .transaction import Transaction, transaction


@dataclass
class ImportReport:
    created: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    def add(self, other: ImportReport) -> None:
        self.created += other.created
        self.unchanged += other.unchanged
        self.problems.extend(other.problems)


async def _customers(
    tx: Transaction, actor: Agent | None, rows: Sequence[CsvRow]
) -> dict[Who, int]:
    """The customer each row's `who` names, where the actor may see it."""
    session = tx.session
    refs = [
        IdentityRef(kind, value) for kind, value in {r.who.identity for r in rows if r.who.identity}
    ]
    held = await identity_holders(session, refs)
    found: dict[Who, int] = {
        Who(identity=(kind, value)): customer_id for (kind, value), customer_id in held.items()
    }
    ids = {r.who.customer_id for r in rows if r.who.customer_id is not None}
    if ids:
        merged = await session.execute(
            select(Customer.id, Customer.merged_into_id).where(Customer.id.in_(ids))
        )
        for customer_id, into in merged:
            # A merged customer's purchases belong with the one it went into.
            found[Who(customer_id=customer_id)] = into if into is not None else customer_id
    if actor is not None and not actor.is_admin and found:
        visible = sorted(await visible_inbox_ids(session, actor))
        seen = set(
            await session.scalars(
                select(Conversation.customer_id)
                .where(
                    Conversation.customer_id.in_(set(found.values())),
                    Conversation.inbox_id.in_(visible),
                )
                .distinct()
            )
        )
        found = {who: c for who, c in found.items() if c in seen}
    return found


async def do_import_purchases(
    rt: Runtime, actor: Agent | None, rows: Sequence[CsvRow]
) -> ImportReport:
    """Add the purchases of `rows` that are new; `actor` None is the operator's CLI."""
    report = ImportReport()
    if not rows:
        return report
    async with transaction(rt) as tx:
        customers = await _customers(tx, actor, rows)
        wanted = {(customers[r.who], r.purchase.reference) for r in rows if r.who in customers}
        existing: dict[tuple[int, str], Purchase] = {}
        if wanted:
            # Two plain INs, not a row-value IN, which SQLite answers by reading
            # every purchase; the pairs not wanted are dropped here.
            found = await tx.session.scalars(
                select(Purchase).where(
                    Purchase.customer_id.in_(sorted({c for c, _ in wanted})),
                    Purchase.reference.in_(sorted({r for _, r in wanted})),
                )
            )
            existing = {
                (p.customer_id, p.reference): p
                for p in found
                if (p.customer_id, p.reference) in wanted
            }
        touched: set[int] = set()
        for row in rows:
            customer_id = customers.get(row.who)
            if customer_id is None:
                report.problems.append(RowProblem(row.line, f"no {row.who.describe()} found"))
                continue
            key = (customer_id, row.purchase.reference)
            held = existing.get(key)
            if held is None:
                held = new_purchase(customer_id, row.purchase)
                tx.session.add(held)
                existing[key] = held
                touched.add(customer_id)
                report.created += 1
            elif same_purchase(held, row.purchase):
                report.unchanged += 1
            else:
                report.problems.append(
                    RowProblem(
                        row.line,
                        f"purchase {row.purchase.reference} is already on customer "
                        f"{customer_id} with other details",
                    )
                )
        if touched:
            await tx.session.flush()
            now = utcnow()
            changed = await tx.session.scalars(
                select(Customer).where(Customer.id.in_(sorted(touched))).order_by(Customer.id)
            )
            for customer in changed:
                customer.version += 1
                customer.updated_at = now
                await announce_change(tx, actor, customer, ["purchases"])
            await tx.session.flush()
        tx.audit(
            actor,
            "purchases.imported",
            "customer",
            None,
            created=report.created,
            unchanged=report.unchanged,
            problems=len(report.problems),
        )
    return report


# Rows per transaction: large files commit as they go, and a re-run skips what is in.
CHUNK = 500


async def import_purchases_csv(
    rt: Runtime,
    actor: Agent | None,
    data: bytes,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a whole CSV file (see inbox.profiles.purchase_csv), CHUNK rows at a time.

    BadRequest for a header it can't use, before anything is stored.
    `on_progress` hears how many data rows each chunk handled.
    """
    report = ImportReport()
    batch: list[CsvRow] = []
    handled = 0

    async def flush() -> None:
        nonlocal handled
        report.add(await do_import_purchases(rt, actor, batch))
        if on_progress is not None:
            on_progress(handled)
        batch.clear()
        handled = 0

    for item in read_purchases(data):
        handled += 1
        if isinstance(item, RowProblem):
            report.problems.append(item)
        else:
            batch.append(item)
        if len(batch) >= CHUNK:
            await flush()
    await flush()
    report.problems.sort(key=lambda p: p.line)
    return report
