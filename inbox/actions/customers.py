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
        tx.session.add_all(CustomerTag(customer_id=customer.id, tag=t) for t in _clean_tags(tags))
        tx.audit(actor, "customer.created", "customer", customer.id)
    return customer


def _clean_tags(tags: Sequence[str]) -> list[str]:
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
    if len(currency) != 3 or not currency.isalpha():
        raise BadRequest("currency must be a three-letter ISO 4217 code")
    if not reference.strip():
        raise BadRequest("a purchase needs a reference")
    async with transaction(rt) as tx:
        customer = (
            await get_visible_customer(tx.session, actor, customer_id)
            if actor is not None
            else await tx.session.get(Customer, customer_id)
        )
        if customer is None:
            raise BadRequest(f"no customer with id {customer_id}")
        taken = await tx.session.scalar(
            select(Purchase.id).where(
                Purchase.customer_id == customer.id, Purchase.reference == reference.strip()
            )
        )
        if taken is not None:
            raise Conflict(f"purchase {reference} is already on this customer")
        purchase = Purchase(
            customer_id=customer.id,
            reference=reference.strip(),
            amount=amount,
            currency=currency.upper(),
            description=description,
            status=status,
            purchased_at=purchased_at or utcnow(),
        )
        tx.session.add(purchase)
        await _touch(tx, actor, customer, ["purchases"])
    return purchase
