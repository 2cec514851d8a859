"""Merging two customers into one, and undoing it.

A merge moves the merged customer's conversations, messages, identities, notes
and purchases to the kept customer, copies its tags, and fills the kept
customer's missing attributes (and name) from it; the kept customer wins on
every conflicting attribute. The merged customer stays, marked
`merged_into_id`, and the audit entry (`customer.merged`) records exactly which
rows moved and what the kept customer held before, which is what an unmerge
restores.

Refused: a customer into itself; into or from a customer already merged;
stale versions; a customer the agent can't see; and conflicting identities:
both customers hold a *verified* identity of the same single-account kind
(live chat, Telegram, WhatsApp, Messenger, Instagram, API). Such an id names
one signed-in account, so two of them are two people. Emails and phones never
conflict: one person often has several.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update

from inbox.access import customer_audience, get_visible_customer
from inbox.errors import BadRequest, Conflict
from inbox.events import Audience, CustomerMerged, CustomerUnmerged
from inbox.models import (
    Agent,
    AuditEntry,
    Conversation,
    Customer,
    CustomerNote,
    CustomerTag,
    Identity,
    IdentityKind,
    Message,
    Purchase,
    utcnow,
)
from inbox.runtime import Runtime

from .transaction import Transaction, transaction

# Kinds whose verified id is one account: two different ones mean two people.
SINGLE_ACCOUNT_KINDS = frozenset(IdentityKind) - {IdentityKind.EMAIL, IdentityKind.PHONE}

MERGED = "customer.merged"
UNMERGED = "customer.unmerged"


async def _locked(tx: Transaction, actor: Agent, ids: list[int]) -> dict[int, Customer]:
    """Both customers, visible to `actor`, locked in id order (no deadlock between merges)."""
    for customer_id in ids:
        await get_visible_customer(tx.session, actor, customer_id)
    rows = await tx.session.scalars(
        select(Customer)
        .where(Customer.id.in_(ids))
        .order_by(Customer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {c.id: c for c in rows}


async def _ids(tx: Transaction, column: Any, customer_id: int) -> list[int]:
    table = column.class_
    rows = await tx.session.scalars(
        select(table.id).where(column == customer_id).order_by(table.id)
    )
    return list(rows)


async def identity_conflict(tx: Transaction, keep_id: int, merge_id: int) -> str | None:
    """Why these two customers can't be one person, or None."""
    rows = await tx.session.execute(
        select(Identity.customer_id, Identity.kind, Identity.value).where(
            Identity.customer_id.in_([keep_id, merge_id]),
            Identity.verified.is_(True),
            Identity.kind.in_(sorted(SINGLE_ACCOUNT_KINDS)),
        )
    )
    held: dict[IdentityKind, dict[int, str]] = {}
    for customer_id, kind, value in rows:
        held.setdefault(kind, {})[customer_id] = value
    for kind, by_customer in sorted(held.items()):
        if len(by_customer) == 2:
            return (
                f"both customers have a verified {kind.value} identity "
                f"({by_customer[keep_id]} and {by_customer[merge_id]}): "
                "they are different accounts"
            )
    return None


async def do_merge_customers(
    rt: Runtime,
    actor: Agent,
    *,
    keep_id: int,
    merge_id: int,
    expected_versions: Mapping[int, int],
) -> Customer:
    """Merge customer `merge_id` into `keep_id`; returns the kept customer.

    `expected_versions` maps both ids to the versions the agent saw; if either
    moved on, the merge is refused (409) so nobody merges what they haven't seen.
    """
    if keep_id == merge_id:
        raise BadRequest("a customer can't be merged into itself")
    async with transaction(rt) as tx:
        customers = await _locked(tx, actor, [keep_id, merge_id])
        keep, merge = customers[keep_id], customers[merge_id]
        for customer, role in ((merge, "merged"), (keep, "kept")):
            if customer.merged_into_id is not None:
                raise BadRequest(
                    f"{customer.display_name} was already merged into customer "
                    f"{customer.merged_into_id}; it can't be {role}"
                )
        stale = {c.id: c.version for c in (keep, merge) if expected_versions.get(c.id) != c.version}
        if stale:
            raise Conflict(
                "a customer changed since you looked: reload and check before merging",
                versions=stale,
            )
        if (reason := await identity_conflict(tx, keep_id, merge_id)) is not None:
            raise BadRequest(f"can't merge: {reason}")
        # Computed before the move: whoever could see the merged customer hears where it went.
        audience = await customer_audience(tx.session, keep_id) | await customer_audience(
            tx.session, merge_id
        )
        record = await _move(tx, keep, merge)
        now = utcnow()
        merge.merged_into_id = keep.id
        for customer in (keep, merge):
            customer.version += 1
            customer.updated_at = now
        await tx.session.flush()
        tx.audit(actor, MERGED, "customer", merge.id, **record)
        tx.emit(
            CustomerMerged(
                customer_id=keep.id, merged_id=merge.id, by_agent_id=actor.id, version=keep.version
            ),
            Audience(audience),
        )
    return keep


async def _move(tx: Transaction, keep: Customer, merge: Customer) -> dict[str, Any]:
    """Move every row of `merge` that belongs on `keep`; returns what an unmerge needs."""
    s = tx.session
    conversations = await _ids(tx, Conversation.customer_id, merge.id)
    messages = await _ids(tx, Message.customer_id, merge.id)
    identities = await _ids(tx, Identity.customer_id, merge.id)
    notes = await _ids(tx, CustomerNote.customer_id, merge.id)
    # A purchase whose reference the kept customer has is the same order twice:
    # it stays behind rather than break the (customer, reference) key.
    kept_refs = select(Purchase.reference).where(Purchase.customer_id == keep.id)
    purchases = list(
        await s.scalars(
            select(Purchase.id)
            .where(Purchase.customer_id == merge.id, Purchase.reference.not_in(kept_refs))
            .order_by(Purchase.id)
        )
    )
    merge_tags = list(
        await s.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == merge.id))
    )
    keep_tags = set(
        await s.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == keep.id))
    )
    tags_added = sorted(set(merge_tags) - keep_tags)
    for model, ids in (
        (Conversation, conversations),
        (Message, messages),
        (Identity, identities),
        (CustomerNote, notes),
        (Purchase, purchases),
    ):
        if ids:
            await s.execute(update(model).where(model.id.in_(ids)).values(customer_id=keep.id))
    await s.execute(delete(CustomerTag).where(CustomerTag.customer_id == merge.id))
    s.add_all(CustomerTag(customer_id=keep.id, tag=t) for t in tags_added)
    record: dict[str, Any] = {
        "kept_id": keep.id,
        "conversation_ids": conversations,
        "message_ids": messages,
        "identity_ids": identities,
        "note_ids": notes,
        "purchase_ids": purchases,
        "tags": sorted(merge_tags),
        "tags_added": tags_added,
        "kept_name": keep.name,
        "name_taken": None,
        # The kept customer wins on every key both have, so only new keys are added.
        "attributes_added": {k: v for k, v in merge.attributes.items() if k not in keep.attributes},
    }
    keep.attributes = {**merge.attributes, **keep.attributes}
    if not keep.name and merge.name:
        keep.name = record["name_taken"] = merge.name
    return record


async def last_merge(tx: Transaction, merged_id: int) -> AuditEntry | None:
    """The audit entry of the merge that is in force for this customer."""
    entry: AuditEntry | None = await tx.session.scalar(
        select(AuditEntry)
        .where(
            AuditEntry.target_type == "customer",
            AuditEntry.target_id == merged_id,
            AuditEntry.action.in_([MERGED, UNMERGED]),
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    return entry if entry is not None and entry.action == MERGED else None


async def do_unmerge_customer(rt: Runtime, actor: Agent, *, merged_id: int) -> Customer:
    """Undo the merge of `merged_id`: the rows that moved go back; returns that customer.

    Messages that arrived since in a conversation that goes back go with it;
    conversations that arrived on the kept customer since stay there.
    Refused if the kept customer has since been merged elsewhere, or if rows
    that moved no longer exist or were moved on to another customer.
    """
    async with transaction(rt) as tx:
        merged = await get_visible_customer(tx.session, actor, merged_id)
        if merged.merged_into_id is None:
            raise BadRequest(f"{merged.display_name} is not merged into anyone")
        record = await last_merge(tx, merged_id)
        if record is None or record.data.get("kept_id") != merged.merged_into_id:
            raise BadRequest("no record of this merge is left, so it can't be undone")
        data, kept_id = record.data, merged.merged_into_id
        customers = await _locked(tx, actor, [merged_id, kept_id])
        merged, keep = customers[merged_id], customers[kept_id]
        if merged.merged_into_id != kept_id:
            raise Conflict("someone else undid or changed this merge meanwhile: reload")
        if keep.merged_into_id is not None:
            raise Conflict(
                f"{keep.display_name} has since been merged into customer "
                f"{keep.merged_into_id}: undo that merge first"
            )
        await _check_still_there(tx, keep.id, data)
        audience = await customer_audience(tx.session, keep.id)
        await _move_back(tx, keep, merged, data)
        now = utcnow()
        merged.merged_into_id = None
        for customer in (keep, merged):
            customer.version += 1
            customer.updated_at = now
        await tx.session.flush()
        tx.audit(actor, UNMERGED, "customer", merged.id, kept_id=keep.id, merge_audit_id=record.id)
        tx.emit(
            CustomerUnmerged(
                customer_id=keep.id,
                merged_id=merged.id,
                by_agent_id=actor.id,
                version=merged.version,
            ),
            Audience(audience),
        )
    return merged


_RECORDED: tuple[tuple[str, Any, str], ...] = (
    ("conversation_ids", Conversation, "conversation"),
    ("message_ids", Message, "message"),
    ("identity_ids", Identity, "identity"),
    ("note_ids", CustomerNote, "note"),
    ("purchase_ids", Purchase, "purchase"),
)


async def _check_still_there(tx: Transaction, keep_id: int, data: dict[str, Any]) -> None:
    for key, model, label in _RECORDED:
        ids = data.get(key, [])
        if not ids:
            continue
        rows = await tx.session.execute(
            select(model.id, model.customer_id).where(model.id.in_(ids))
        )
        where: dict[int, int] = {i: owner for i, owner in rows}
        missing = [i for i in ids if i not in where]
        if missing:
            raise Conflict(
                f"can't undo the merge: {label} {', '.join(map(str, missing))} no longer exists",
                missing={key: missing},
            )
        elsewhere = sorted(i for i, owner in where.items() if owner != keep_id)
        if elsewhere:
            raise Conflict(
                f"can't undo the merge: {label} {', '.join(map(str, elsewhere))} "
                "has since moved to another customer"
            )


async def _move_back(
    tx: Transaction, keep: Customer, merged: Customer, data: dict[str, Any]
) -> None:
    s = tx.session
    conversations = data.get("conversation_ids", [])
    for key, model, _label in _RECORDED:
        # Messages follow their conversation (below), wherever they were moved since.
        if model is not Message and (ids := data.get(key, [])):
            await s.execute(update(model).where(model.id.in_(ids)).values(customer_id=merged.id))
    if conversations:
        # A message keeps its conversation's customer, including one written since the merge.
        await s.execute(
            update(Message)
            .where(Message.conversation_id.in_(conversations))
            .values(customer_id=merged.id)
        )
    if data.get("tags_added"):
        await s.execute(
            delete(CustomerTag).where(
                CustomerTag.customer_id == keep.id, CustomerTag.tag.in_(data["tags_added"])
            )
        )
    s.add_all(CustomerTag(customer_id=merged.id, tag=t) for t in data.get("tags", []))
    # Only what the merge brought is taken back: later edits to the kept customer stay.
    added = data.get("attributes_added", {})
    keep.attributes = {k: v for k, v in keep.attributes.items() if k not in added or added[k] != v}
    if data.get("name_taken") is not None and keep.name == data["name_taken"]:
        keep.name = data.get("kept_name", "")
