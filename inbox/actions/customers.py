"""The shared customer profile: creation, identities, tags, notes, purchases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from inbox.access import customer_audience, get_visible_customer
from inbox.errors import BadRequest, Conflict
from inbox.events import Audience, CustomerUpdated
from inbox.models import Agent, Customer, CustomerNote, CustomerTag, Identity, Purchase, utcnow
from inbox.profiles.identities import IdentityRef, attach_free_identities
from inbox.profiles.purchases import PurchaseIn, check_purchase, same_purchase
from inbox.runtime import Runtime

from .transaction import Transaction, transaction


async def do_create_customer(
    rt: Runtime,
    actor: Agent | None,
    *,
    name: str,
    identities: Sequence[IdentityRef] = (),
    attributes: dict[str, Any] | None = None,
    tags: Sequence[str] = (),
) -> Customer:
    async with transaction(rt) as tx:
        for r in identities:
            held = await tx.session.scalar(
                select(Identity.customer_id).where(
                    Identity.kind == r.kind, Identity.value == r.value
                )
            )
            if held is not None:
                raise Conflict(f"{r.kind.value} {r.value} already belongs to customer {held}")
        customer = Customer(name=name.strip()[:200], attributes=attributes or {})
        tx.session.add(customer)
        await tx.session.flush()
        await attach_free_identities(tx.session, customer, identities)
        tx.session.add_all(CustomerTag(customer_id=customer.id, tag=t) for t in clean_tags(tags))
        tx.audit(actor, "customer.created", "customer", customer.id)
    return customer


def clean_tags(tags: Sequence[str]) -> list[str]:
    cleaned = sorted({t.strip().lower() for t in tags if t.strip()})
    if any(len(t) > 64 for t in cleaned):
        raise BadRequest("a tag is at most 64 characters")
    return cleaned


async def _touch(
    tx: Transaction, actor: Agent | None, customer: Customer, fields: list[str]
) -> None:
    customer.version += 1
    customer.updated_at = utcnow()
    await tx.session.flush()
    await announce_change(tx, actor, customer, fields)


async def announce_change(
    tx: Transaction, actor: Agent | None, customer: Customer, fields: list[str]
) -> None:
    """Audit a profile change and tell everyone who may see the customer."""
    tx.audit(actor, "customer.updated", "customer", customer.id, fields=fields)
    tx.emit(
        CustomerUpdated(customer_id=customer.id, fields=fields, version=customer.version),
        Audience(await customer_audience(tx.session, customer.id)),
    )


async def do_add_customer_note(
    rt: Runtime, actor: Agent, customer_id: int, body: str
) -> CustomerNote:
    body = body.strip()
    if not body:
        raise BadRequest("the note is empty")
    async with transaction(rt) as tx:
        customer = await get_visible_customer(tx.session, actor, customer_id)
        note = CustomerNote(customer_id=customer.id, author_id=actor.id, body=body)
        tx.session.add(note)
        await _touch(tx, actor, customer, ["notes"])
    return note


def new_purchase(customer_id: int, p: PurchaseIn) -> Purchase:
    return Purchase(
        customer_id=customer_id,
        reference=p.reference,
        amount=p.amount,
        currency=p.currency,
        description=p.description,
        status=p.status,
        purchased_at=p.purchased_at or utcnow(),
    )


async def do_record_purchase(
    rt: Runtime, actor: Agent | None, customer_id: int, purchase: PurchaseIn
) -> tuple[Purchase, bool]:
    """Add a purchase, or find it already there: idempotent on (customer, reference).

    Returns the row and whether it was created. The same reference with
    different details is refused (409), so nothing is silently dropped.
    """
    p = check_purchase(purchase)
    async with transaction(rt) as tx:
        customer = (
            await get_visible_customer(tx.session, actor, customer_id)
            if actor is not None
            else await tx.session.get(Customer, customer_id)
        )
        if customer is None:
            raise BadRequest(f"no customer with id {customer_id}")
        existing = await tx.session.scalar(
            select(Purchase).where(
                Purchase.customer_id == customer.id, Purchase.reference == p.reference
            )
        )
        if existing is not None:
            if not same_purchase(existing, p):
                raise Conflict(
                    f"purchase {p.reference} is already on this customer with other details",
                    purchase_id=existing.id,
                )
            return existing, False
        row = new_purchase(customer.id, p)
        tx.session.add(row)
        await _touch(tx, actor, customer, ["purchases"])
    return row, True


async def do_add_purchase(
    rt: Runtime,
    actor: Agent | None,
    customer_id: int,
    *,
    reference: str,
    amount: float,
    currency: str,
    description: str = "",
    status: str = "completed",
    purchased_at: datetime | None = None,
) -> Purchase:
    purchase = PurchaseIn(reference, amount, currency, description, status, purchased_at)
    row, _ = await do_record_purchase(rt, actor, customer_id, purchase)
    return row
