"""The shared profile over the API: typed fields, edits, tags, notes, purchases, metrics."""

from __future__ import annotations

from sqlalchemy import select

from inbox.access import visible_inbox_ids
from inbox.actions.customer_profile import (
    do_define_customer_field,
    do_delete_customer_field,
    do_edit_customer,
    do_update_customer_field,
)
from inbox.actions.customers import do_add_customer_note, do_record_purchase
from inbox.actions.purchase_import import import_purchases_csv
from inbox.actions.satisfaction import do_rate_conversation
from inbox.models import CustomerField, CustomerNote, Inbox, Purchase
from inbox.profiles.fields import defined_fields
from inbox.profiles.metrics import customer_metrics
from inbox.profiles.purchases import PurchaseIn
from inbox.queries import customer_profile

from .customers import TAG, _result
from .profile_schemas import (
    EditProfileIn,
    FieldIn,
    FieldOut,
    FieldResultOut,
    FieldsOut,
    FieldUpdateIn,
    FieldValueOut,
    HistoryEntryOut,
    ImportIn,
    ImportOut,
    ImportProblemOut,
    MetricsOut,
    NoteIn,
    NoteOut,
    NoteResultOut,
    ProfileOut,
    PurchaseCreateIn,
    PurchaseOut,
    PurchaseResultOut,
    RatingIn,
    RatingOut,
    TagsIn,
)
from .registry import Call, Endpoint
from .schemas import CustomerResultOut, EmptyIn
from .serialise import customer_out


def _field_out(f: CustomerField) -> FieldOut:
    return FieldOut(id=f.id, key=f.key, label=f.label, type=f.type, options=f.options)


def _note_out(n: CustomerNote) -> NoteOut:
    return NoteOut(id=n.id, author_id=n.author_id, text=n.body, created_at=n.created_at)


def _purchase_out(p: Purchase) -> PurchaseOut:
    return PurchaseOut(
        id=p.id,
        customer_id=p.customer_id,
        reference=p.reference,
        description=p.description,
        amount=p.amount,
        currency=p.currency,
        status=p.status,
        purchased_at=p.purchased_at,
    )


async def list_customer_fields(call: Call) -> FieldsOut:
    """The typed fields every profile has, in the order they were defined."""
    async with call.rt.read_sessions() as db:
        fields = await defined_fields(db)
    return FieldsOut(fields=[_field_out(f) for f in fields.values()])


async def define_customer_field(call: Call) -> FieldResultOut:
    """Admins only. `409` if the key is taken; `400` with the reason for a bad key,
    label or options (a choice needs at least one; other types take none)."""
    body = call.body_as(FieldIn)
    field = await do_define_customer_field(
        call.rt, call.agent, key=body.key, label=body.label, type=body.type, options=body.options
    )
    return FieldResultOut(field=_field_out(field))


async def update_customer_field(call: Call) -> FieldResultOut:
    """Admins only: a new label, or a choice's new options (stored values stay)."""
    body = call.body_as(FieldUpdateIn)
    field = await do_update_customer_field(
        call.rt, call.agent, call.path_id("customer field"), label=body.label, options=body.options
    )
    return FieldResultOut(field=_field_out(field))


async def delete_customer_field(call: Call) -> FieldsOut:
    """Admins only. Values already stored stay on profiles as free-form attributes."""
    await do_delete_customer_field(call.rt, call.agent, call.path_id("customer field"))
    return await list_customer_fields(call)


async def get_customer_profile(call: Call) -> ProfileOut:
    """The whole profile: fields with values, metrics, notes, purchases and service history.

    Metrics and history cover only conversations in inboxes you may see.
    """
    customer_id = call.path_id("customer")
    async with call.rt.read_sessions() as db:
        profile = await customer_profile(db, call.agent, customer_id)
        visible = await visible_inbox_ids(db, call.agent)
        metrics = await customer_metrics(db, customer_id, visible)
        fields = await defined_fields(db)
        inboxes = {i.id: i for i in await db.scalars(select(Inbox))}
    customer = profile.customer
    return ProfileOut(
        customer=customer_out(customer),
        fields=[
            FieldValueOut(
                key=f.key,
                label=f.label,
                type=f.type,
                options=f.options,
                value=customer.attributes.get(f.key),
            )
            for f in fields.values()
        ],
        metrics=MetricsOut(
            conversations=metrics.conversations,
            open=metrics.open,
            first_contact=metrics.first_contact,
            avg_first_response_seconds=metrics.avg_first_response,
            answered=metrics.answered,
            avg_satisfaction=metrics.avg_satisfaction,
            rated=metrics.rated,
        ),
        notes=[_note_out(n) for n in profile.notes],
        purchases=[_purchase_out(p) for p in profile.purchases],
        conversations=[
            HistoryEntryOut(
                id=c.id,
                inbox_id=c.inbox_id,
                inbox_name=inboxes[c.inbox_id].name,
                channel=inboxes[c.inbox_id].channel,
                subject=c.subject,
                status=c.status,
                satisfaction=c.satisfaction,
                created_at=c.created_at,
                last_activity_at=c.last_activity_at,
            )
            for c in profile.conversations
        ],
    )


async def edit_customer_profile(call: Call) -> CustomerResultOut:
    """Change the name and/or attributes as you saw them at `version`.

    `409` if the customer changed since (`details.version` and `details.current`
    hold what it is now; nothing was saved). `400` naming the field and why for
    a value its type refuses, or a key no field defines.
    """
    customer_id = call.path_id("customer")
    body = call.body_as(EditProfileIn)
    await do_edit_customer(
        call.rt,
        call.agent,
        customer_id,
        version=body.version,
        name=body.name,
        attributes=body.attributes,
    )
    return await _result(call, customer_id)


async def change_customer_tags(call: Call) -> CustomerResultOut:
    """Add and remove tags (lower-cased) on the customer as seen at `version`; `409` if stale."""
    customer_id = call.path_id("customer")
    body = call.body_as(TagsIn)
    await do_edit_customer(
        call.rt,
        call.agent,
        customer_id,
        version=body.version,
        add_tags=body.add,
        remove_tags=body.remove,
    )
    return await _result(call, customer_id)


async def add_customer_note(call: Call) -> NoteResultOut:
    """A note on the customer, for colleagues (customers never see it)."""
    note = await do_add_customer_note(
        call.rt, call.agent, call.path_id("customer"), call.body_as(NoteIn).text
    )
    return NoteResultOut(note=_note_out(note))


async def record_purchase(call: Call) -> PurchaseResultOut:
    """Idempotent on the customer and `reference`: sending it again changes nothing and
    answers `created: false`. The same reference with other details is `409`."""
    body = call.body_as(PurchaseCreateIn)
    purchase, created = await do_record_purchase(
        call.rt,
        call.agent,
        call.path_id("customer"),
        PurchaseIn(
            body.reference,
            body.amount,
            body.currency,
            body.description,
            body.status,
            body.purchased_at,
        ),
    )
    return PurchaseResultOut(purchase=_purchase_out(purchase), created=created)


async def import_purchases(call: Call) -> ImportOut:
    """Import a purchases CSV (columns as in `docs/api.md`) for customers you may see.

    Every bad row is reported with its line and reason, and every good row is
    imported; importing the same file again adds nothing. `400` for a header
    it can't use, with nothing imported.
    """
    report = await import_purchases_csv(call.rt, call.agent, call.body_as(ImportIn).csv.encode())
    return ImportOut(
        created=report.created,
        unchanged=report.unchanged,
        problems=[ImportProblemOut(line=p.line, reason=p.reason) for p in report.problems],
    )


async def rate_conversation(call: Call) -> RatingOut:
    """Record the customer's satisfaction with the conversation, 1 to 5 (the latest counts)."""
    conv = await do_rate_conversation(
        call.rt, call.agent, call.path_id("conversation"), call.body_as(RatingIn).score
    )
    assert conv.satisfaction is not None
    return RatingOut(conversation_id=conv.id, satisfaction=conv.satisfaction)


ENDPOINTS = [
    Endpoint(
        "GET", "/customer-fields", "Typed customer fields", list_customer_fields, FieldsOut, tag=TAG
    ),
    Endpoint(
        "POST",
        "/customer-fields",
        "Define a customer field",
        define_customer_field,
        FieldResultOut,
        tag=TAG,
        status=201,
        body=FieldIn,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        "/customer-fields/{id:int}",
        "Change a field's label or options",
        update_customer_field,
        FieldResultOut,
        tag=TAG,
        body=FieldUpdateIn,
    ),
    Endpoint(
        "POST",
        "/customer-fields/{id:int}/delete",
        "Remove a field's definition",
        delete_customer_field,
        FieldsOut,
        tag=TAG,
        body=EmptyIn,
    ),
    Endpoint(
        "GET",
        "/customers/{id:int}/profile",
        "The whole profile, metrics and service history",
        get_customer_profile,
        ProfileOut,
        tag=TAG,
    ),
    Endpoint(
        "POST",
        "/customers/{id:int}/profile",
        "Edit name and attributes",
        edit_customer_profile,
        CustomerResultOut,
        tag=TAG,
        body=EditProfileIn,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        "/customers/{id:int}/tags",
        "Add or remove tags",
        change_customer_tags,
        CustomerResultOut,
        tag=TAG,
        body=TagsIn,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        "/customers/{id:int}/notes",
        "Add a note on the customer",
        add_customer_note,
        NoteResultOut,
        tag=TAG,
        status=201,
        body=NoteIn,
    ),
    Endpoint(
        "POST",
        "/customers/{id:int}/purchases",
        "Record a purchase",
        record_purchase,
        PurchaseResultOut,
        tag=TAG,
        body=PurchaseCreateIn,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        "/purchases/import",
        "Import purchases from CSV",
        import_purchases,
        ImportOut,
        tag=TAG,
        body=ImportIn,
    ),
    Endpoint(
        "POST",
        "/conversations/{id:int}/satisfaction",
        "Record the customer's satisfaction",
        rate_conversation,
        RatingOut,
        tag="conversations",
        body=RatingIn,
    ),
]
