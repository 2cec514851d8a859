"""Editing the shared profile: name, typed attributes and tags, each against a version.

Every edit names the `version` of the customer the agent saw. The version is
taken with one conditional UPDATE (`... WHERE version = :seen`), so of two
agents editing from the same version exactly one wins; the other is refused
with `StaleProfile` (409), which carries what the profile holds now, and
nothing of theirs is written. Admins define the typed fields
(`do_define_customer_field`); every attribute write is checked against them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update

from inbox.access import get_visible_customer
from inbox.errors import BadRequest, Conflict, NotFound
from inbox.models import Agent, Customer, CustomerField, CustomerTag, FieldType, utcnow
from inbox.profiles.fields import check_definition, defined_fields, value_for, value_from_form
from inbox.runtime import Runtime

from .agents import check_admin
from .customers import announce_change, clean_tags
from .transaction import Transaction, transaction


class StaleProfile(Conflict):
    """The customer changed since the agent loaded it; `current` is what it holds now."""

    def __init__(self, current: Customer, tags: list[str], seen: int) -> None:
        super().__init__(
            f"someone else changed {current.display_name} since you loaded it "
            f"(version {seen}, now {current.version}); nothing was saved: "
            "check the current values and make your change again",
            version=current.version,
            current={"name": current.name, "attributes": current.attributes, "tags": tags},
        )
        self.current = current


async def _tags(tx: Transaction, customer_id: int) -> list[str]:
    rows = await tx.session.scalars(
        select(CustomerTag.tag).where(CustomerTag.customer_id == customer_id).order_by("tag")
    )
    return list(rows)


async def _editable(tx: Transaction, actor: Agent, customer_id: int, seen: int) -> Customer:
    """The customer, if the agent may see it and `seen` is its version (else StaleProfile)."""
    customer = await get_visible_customer(tx.session, actor, customer_id)
    if customer.merged_into_id is not None:
        raise BadRequest(
            f"{customer.display_name} was merged into customer {customer.merged_into_id}: "
            "edit that customer instead"
        )
    if customer.version != seen:
        raise StaleProfile(customer, await _tags(tx, customer_id), seen)
    return customer


async def _take_version(tx: Transaction, customer: Customer, seen: int) -> None:
    """Move the version on from `seen`, unless a concurrent edit got there first."""
    taken = await tx.session.execute(
        update(Customer)
        .where(Customer.id == customer.id, Customer.version == seen)
        .values(version=seen + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        await tx.session.refresh(customer)
        raise StaleProfile(customer, await _tags(tx, customer.id), seen)
    await tx.session.refresh(customer, ["version", "updated_at"])


async def _new_attributes(
    tx: Transaction, current: Mapping[str, Any], changes: Mapping[str, Any], *, from_form: bool
) -> dict[str, Any]:
    fields = await defined_fields(tx.session)
    result = dict(current)
    for key, raw in changes.items():
        field = fields.get(key)
        if field is None:
            # Free-form attributes from before fields were defined can be cleared, not set.
            if raw is None or raw == "":
                result.pop(key, None)
                continue
            raise BadRequest(f"there is no customer field {key!r}; an admin defines fields")
        value = value_from_form(field, raw) if from_form else value_for(field, raw)
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


async def _change_tags(
    tx: Transaction, customer_id: int, add: Sequence[str], remove: Sequence[str]
) -> bool:
    """Add and remove tags (a tag in both is removed); whether anything changed."""
    added, removed = clean_tags(add), set(clean_tags(remove))
    held = set(await _tags(tx, customer_id))
    to_add = [t for t in added if t not in held and t not in removed]
    to_remove = removed & held
    for tag in sorted(to_remove):
        row = await tx.session.get(CustomerTag, (customer_id, tag))
        if row is not None:
            await tx.session.delete(row)
    tx.session.add_all(CustomerTag(customer_id=customer_id, tag=t) for t in to_add)
    return bool(to_add or to_remove)


async def do_edit_customer(
    rt: Runtime,
    actor: Agent,
    customer_id: int,
    *,
    version: int,
    name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
    from_form: bool = False,
) -> Customer:
    """Edit the profile as seen at `version`: name, attributes (None, or empty form text,
    clears one) and tags. All or nothing; an edit that changes nothing keeps the version."""
    if name is not None and len(name.strip()) > 200:
        raise BadRequest("a name is at most 200 characters")
    async with transaction(rt) as tx:
        customer = await _editable(tx, actor, customer_id, version)
        changed: list[str] = []
        if name is not None and name.strip() != customer.name:
            customer.name = name.strip()
            changed.append("name")
        if attributes:
            new = await _new_attributes(tx, customer.attributes, attributes, from_form=from_form)
            if new != customer.attributes:
                customer.attributes = new
                changed.append("attributes")
        if await _change_tags(tx, customer_id, add_tags, remove_tags):
            changed.append("tags")
        if changed:
            await tx.session.flush()
            await _take_version(tx, customer, version)
            await announce_change(tx, actor, customer, changed)
    return customer


async def do_define_customer_field(
    rt: Runtime,
    actor: Agent | None,
    *,
    key: str,
    label: str,
    type: FieldType,
    options: Sequence[str] = (),
) -> CustomerField:
    check_admin(actor)
    cleaned = check_definition(key, label, type, list(options))
    async with transaction(rt) as tx:
        if await tx.session.scalar(select(CustomerField.id).where(CustomerField.key == key)):
            raise Conflict(f"a field {key!r} exists already")
        field = CustomerField(key=key, label=label.strip(), type=type, options=cleaned)
        tx.session.add(field)
        await tx.session.flush()
        tx.audit(actor, "customer_field.defined", "customer_field", field.id, key=key)
    return field


async def do_update_customer_field(
    rt: Runtime,
    actor: Agent | None,
    field_id: int,
    *,
    label: str | None = None,
    options: Sequence[str] | None = None,
) -> CustomerField:
    """A new label, or new options for a choice field (values already stored stay)."""
    check_admin(actor)
    async with transaction(rt) as tx:
        field = await tx.session.get(CustomerField, field_id)
        if field is None:
            raise NotFound("customer field not found")
        new_label = field.label if label is None else label.strip()
        new_options = field.options if options is None else list(options)
        field.options = check_definition(field.key, new_label, field.type, new_options)
        field.label = new_label
        tx.audit(actor, "customer_field.updated", "customer_field", field.id, key=field.key)
    return field


async def do_delete_customer_field(rt: Runtime, actor: Agent | None, field_id: int) -> None:
    """Forget the definition; values already stored stay on profiles as free-form attributes."""
    check_admin(actor)
    async with transaction(rt) as tx:
        field = await tx.session.get(CustomerField, field_id)
        if field is None:
            raise NotFound("customer field not found")
        await tx.session.delete(field)
        tx.audit(actor, "customer_field.deleted", "customer_field", field_id, key=field.key)
