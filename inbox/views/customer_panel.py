"""The customer profile panel: who they are, on which channels, and their history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import visible_inbox_ids
from inbox.models import Agent, Conversation, Customer, CustomerNote, Inbox, Purchase, utcnow
from inbox.profiles.fields import defined_fields
from inbox.profiles.metrics import customer_metrics, duration_text
from inbox.queries import customer_profile
from inbox.views.display import Moment, channel_label, initials, moment
from inbox.views.profile_form import EditForm, attribute_rows, edit_form


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
class MetricsView:
    customer_id: int
    conversations: int
    open: int
    first_contact: Moment | None
    avg_first_response: str | None
    answered: int
    # "4.3 / 5", or None while no conversation was rated.
    satisfaction: str | None
    rated: int


@dataclass(frozen=True)
class ProfilePanel:
    customer: Customer
    initials: str
    since: Moment
    identities: list[IdentityRow]
    tags: list[str]
    # Defined fields with a value: (key, label, text), in the order they were defined.
    fields: list[tuple[str, str, str]]
    # Free-form attributes no field defines: (key, text).
    attributes: list[tuple[str, str]]
    metrics: MetricsView
    edit: EditForm
    notes: list[NoteRow]
    purchases: list[PurchaseRow]
    conversations: list[ConversationLink]
    notes_url: str
    # Where a plain (no-JS) form post lands afterwards.
    back_url: str


async def load_metrics(db: AsyncSession, agent: Agent, customer_id: int) -> MetricsView:
    """The customer's metrics over the inboxes `agent` may see (access checked by the caller)."""
    m = await customer_metrics(db, customer_id, await visible_inbox_ids(db, agent))
    now = utcnow()
    return MetricsView(
        customer_id,
        m.conversations,
        m.open,
        None if m.first_contact is None else moment(m.first_contact, now),
        None if m.avg_first_response is None else duration_text(m.avg_first_response),
        m.answered,
        None if m.avg_satisfaction is None else f"{m.avg_satisfaction:.1f} / 5",
        m.rated,
    )


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
    fields = list((await defined_fields(db)).values())
    typed, free = attribute_rows(customer.attributes, fields)
    return ProfilePanel(
        customer=customer,
        initials=initials(customer.display_name),
        since=moment(customer.created_at, now),
        identities=[
            IdentityRow(channel_label(i.kind.value), i.value, i.verified)
            for i in customer.identities
        ],
        tags=[t.tag for t in customer.tags],
        fields=typed,
        attributes=free,
        metrics=await load_metrics(db, agent, customer.id),
        edit=edit_form(customer, fields),
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
