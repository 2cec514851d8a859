"""The customer profile panel: who they are, on which channels, and their history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Agent, Conversation, Customer, CustomerNote, Inbox, Purchase, utcnow
from inbox.queries import customer_profile
from inbox.views.display import Moment, channel_label, initials, moment


@dataclass(frozen=True)
class IdentityRow:
    label: str
    value: str
    verified: bool


@dataclass(frozen=True)
class NoteRow:
    note: CustomerNote
    author: str
    when: Moment


@dataclass(frozen=True)
class PurchaseRow:
    purchase: Purchase
    amount: str
    when: Moment


@dataclass(frozen=True)
class ConversationLink:
    conversation: Conversation
    inbox_name: str
    channel: str
    channel_label: str
    when: Moment
    url: str
    is_current: bool


@dataclass(frozen=True)
class ProfilePanel:
    customer: Customer
    initials: str
    since: Moment
    identities: list[IdentityRow]
    tags: list[str]
    attributes: list[tuple[str, str]]
    notes: list[NoteRow]
    purchases: list[PurchaseRow]
    conversations: list[ConversationLink]
    notes_url: str
    # Where a plain (no-JS) form post lands afterwards.
    back_url: str


def _attribute_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


async def load_panel(
    db: AsyncSession, agent: Agent, customer_id: int, *, current_id: int | None
) -> ProfilePanel:
    profile = await customer_profile(db, agent, customer_id)
    now = utcnow()
    customer = profile.customer
    author_ids = {n.author_id for n in profile.notes if n.author_id is not None}
    authors: dict[int, str] = {}
    if author_ids:
        rows = await db.execute(select(Agent.id, Agent.name).where(Agent.id.in_(author_ids)))
        authors = {agent_id: name for agent_id, name in rows.all()}
    inboxes = {i.id: i for i in (await db.scalars(select(Inbox))).all()}
    return ProfilePanel(
        customer=customer,
        initials=initials(customer.display_name),
        since=moment(customer.created_at, now),
        identities=[
            IdentityRow(channel_label(i.kind.value), i.value, i.verified)
            for i in customer.identities
        ],
        tags=[t.tag for t in customer.tags],
        attributes=sorted((k, _attribute_text(v)) for k, v in customer.attributes.items()),
        notes=[
            NoteRow(
                n,
                authors.get(n.author_id, "Former agent") if n.author_id is not None else "System",
                moment(n.created_at, now),
            )
            for n in profile.notes
        ],
        purchases=[
            PurchaseRow(p, f"{p.amount:,.2f} {p.currency}", moment(p.purchased_at, now))
            for p in profile.purchases
        ],
        conversations=[
            ConversationLink(
                c,
                inboxes[c.inbox_id].name,
                inboxes[c.inbox_id].channel.value,
                channel_label(inboxes[c.inbox_id].channel.value),
                moment(c.last_activity_at, now),
                f"/conversations/{c.id}",
                c.id == current_id,
            )
            for c in profile.conversations
        ],
        notes_url=f"/customers/{customer.id}/notes",
        back_url=f"/conversations/{current_id}"
        if current_id is not None
        else f"/customers/{customer.id}",
    )
