"""Merging customers, undoing a merge, and suggesting likely duplicates."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from inbox.actions.customer_merge import do_merge_customers, do_unmerge_customer
from inbox.actions.customers import do_add_customer_note, do_add_purchase
from inbox.channels.ingest import ingest
from inbox.errors import BadRequest, Conflict, NotFound
from inbox.models import (
    AuditEntry,
    Conversation,
    Customer,
    CustomerNote,
    CustomerTag,
    Identity,
    Message,
    Purchase,
)
from inbox.profiles.duplicates import likely_duplicates
from inbox.profiles.identities import ref
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.helpers import captured_events, inbound

HTMX = {"HX-Request": "true"}


async def customer_of(rt: Runtime, message: Any) -> int:
    received = await ingest(rt, message)
    return received.message.customer_id


async def load(rt: Runtime, customer_id: int) -> Customer:
    async with rt.read_sessions() as db:
        customer = await db.get(Customer, customer_id)
        assert customer is not None
        return customer


async def versions(rt: Runtime, *ids: int) -> dict[int, int]:
    return {i: (await load(rt, i)).version for i in ids}


async def merge(rt: Runtime, actor: Any, keep_id: int, merge_id: int) -> Customer:
    return await do_merge_customers(
        rt,
        actor,
        keep_id=keep_id,
        merge_id=merge_id,
        expected_versions=await versions(rt, keep_id, merge_id),
    )


async def set_profile(rt: Runtime, customer_id: int, **attributes: Any) -> None:
    async with rt.write_sessions() as db, db.begin():
        customer = await db.get(Customer, customer_id)
        assert customer is not None
        customer.attributes = attributes


async def add_tags(rt: Runtime, customer_id: int, *tags: str) -> None:
    async with rt.write_sessions() as db, db.begin():
        db.add_all(CustomerTag(customer_id=customer_id, tag=t) for t in tags)


def row(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


async def snapshot(rt: Runtime, *ids: int) -> dict[str, list[dict[str, Any]]]:
    """Every row of these customers and everything that hangs off them."""
    async with rt.read_sessions() as db:
        out: dict[str, list[dict[str, Any]]] = {}
        customers = await db.scalars(select(Customer).where(Customer.id.in_(ids)))
        # Versions grow with every change, a round trip included; the rest must not move.
        out["customers"] = [
            {k: v for k, v in row(c).items() if k not in ("version", "updated_at")}
            for c in sorted(customers, key=lambda c: c.id)
        ]
        for name, model, order in (
            ("identities", Identity, Identity.id),
            ("conversations", Conversation, Conversation.id),
            ("messages", Message, Message.id),
            ("notes", CustomerNote, CustomerNote.id),
            ("purchases", Purchase, Purchase.id),
            ("tags", CustomerTag, CustomerTag.tag),
        ):
            rows = await db.scalars(
                select(model).where(model.customer_id.in_(ids)).order_by(model.customer_id, order)  # type: ignore[attr-defined]
            )
            out[name] = [row(r) for r in rows]
        return out


async def maria_and_her_whatsapp(rt: Runtime, world: World) -> tuple[int, int]:
    """Maria wrote by email (Support) and, as another customer, on WhatsApp (Sales)."""
    maria = await customer_of(
        rt, inbound(world.email_inbox.id, email="maria@acme.test", phone="+4915112345678")
    )
    whatsapp = inbound(world.sales_inbox.id, name="M. Lopez", text="Any news?")
    other = await customer_of(
        rt, replace(whatsapp, identities=(ref("whatsapp", "+49 151 12345678"),))
    )
    assert maria != other
    return maria, other


async def test_merge_moves_rows_and_tells_everyone_who_saw_either(
    rt: Runtime, world: World
) -> None:
    keep, gone = await maria_and_her_whatsapp(rt, world)
    await set_profile(rt, keep, plan="pro")
    await set_profile(rt, gone, plan="free", city="Berlin")
    await add_tags(rt, keep, "vip")
    await add_tags(rt, gone, "whatsapp", "vip")
    await do_add_customer_note(rt, world.olga, gone, "Prefers WhatsApp")
    before = await versions(rt, keep, gone)

    with captured_events(rt) as events:
        await merge(rt, world.admin, keep, gone)

    [published] = events
    assert published.event.model_dump() == {
        "type": "customer.merged",
        "customer_id": keep,
        "merged_id": gone,
        "by_agent_id": world.admin.id,
        "version": before[keep] + 1,
    }
    # Olga (Sales) could see only the merged customer: she is told where it went.
    assert published.audience.agent_ids == {
        world.admin.id,
        world.lead.id,
        world.ana.id,
        world.ben.id,
        world.olga.id,
    }
    assert published.audience.customer_id is None

    after = await snapshot(rt, keep, gone)
    assert {c["customer_id"] for c in after["conversations"]} == {keep}
    assert {m["customer_id"] for m in after["messages"]} == {keep}
    assert sorted(
        (i["kind"], i["value"]) for i in after["identities"] if i["customer_id"] == keep
    ) == [
        ("email", "maria@acme.test"),
        ("phone", "+4915112345678"),
        ("whatsapp", "+4915112345678"),
    ]
    assert [n["body"] for n in after["notes"] if n["customer_id"] == keep] == ["Prefers WhatsApp"]
    assert sorted(t["tag"] for t in after["tags"]) == ["vip", "whatsapp"]
    kept, merged = await load(rt, keep), await load(rt, gone)
    assert kept.attributes == {"plan": "pro", "city": "Berlin"}  # the kept customer wins
    assert merged.merged_into_id == keep
    assert (kept.version, merged.version) == (before[keep] + 1, before[gone] + 1)
    async with rt.read_sessions() as db:
        audit = await db.scalar(select(AuditEntry).where(AuditEntry.action == "customer.merged"))
    assert audit is not None and audit.target_id == gone
    assert audit.data["conversation_ids"] == [c["id"] for c in after["conversations"][1:]]


async def test_merge_refusals_say_why(rt: Runtime, world: World) -> None:
    keep, gone = await maria_and_her_whatsapp(rt, world)
    v = await versions(rt, keep, gone)

    with pytest.raises(BadRequest, match="into itself"):
        await do_merge_customers(rt, world.admin, keep_id=keep, merge_id=keep, expected_versions=v)
    # Ana can't see the Sales customer: as if it didn't exist.
    with pytest.raises(NotFound):
        await do_merge_customers(rt, world.ana, keep_id=keep, merge_id=gone, expected_versions=v)
    stale = {keep: v[keep], gone: v[gone] - 1}
    with pytest.raises(Conflict, match="changed since you looked"):
        await do_merge_customers(
            rt, world.admin, keep_id=keep, merge_id=gone, expected_versions=stale
        )

    third = await customer_of(rt, inbound(world.email_inbox.id, email="third@acme.test"))
    await merge(rt, world.admin, keep, gone)
    with pytest.raises(BadRequest, match="already merged"):
        await merge(rt, world.admin, gone, third)
    with pytest.raises(BadRequest, match="already merged"):
        await merge(rt, world.admin, third, gone)
    async with rt.read_sessions() as db:
        assert await db.scalar(select(Customer.merged_into_id).where(Customer.id == third)) is None


async def test_two_verified_chat_accounts_are_two_people(rt: Runtime, world: World) -> None:
    def signed_in(user: str, email: str) -> Any:
        message = inbound(world.chat_inbox.id, name="Maria Lopez")
        return replace(
            message,
            identities=(ref("live_chat", user, verified=True), ref("email", email)),
        )

    one = await customer_of(rt, signed_in("site-user-1", "maria@acme.test"))
    two = await customer_of(rt, signed_in("site-user-2", "maria.lopez@acme.test"))
    with captured_events(rt) as events, pytest.raises(BadRequest) as refused:
        await merge(rt, world.admin, one, two)
    assert "verified live_chat" in refused.value.message
    assert "site-user-1" in refused.value.message and "site-user-2" in refused.value.message
    assert events == []

    # An unverified chat id and several emails are no conflict.
    visitor = await customer_of(rt, inbound(world.chat_inbox.id, chat_id="anon-visitor"))
    await merge(rt, world.admin, one, visitor)
    assert (await load(rt, visitor)).merged_into_id == one


async def test_unmerge_restores_every_row_exactly(rt: Runtime, world: World) -> None:
    keep, gone = await maria_and_her_whatsapp(rt, world)
    await ingest(rt, inbound(world.email_inbox.id, email="maria@acme.test", text="Second"))
    await set_profile(rt, gone, plan="free", city="Berlin")
    await set_profile(rt, keep, plan="pro")
    await add_tags(rt, gone, "whatsapp", "vip")
    await add_tags(rt, keep, "vip")
    await do_add_customer_note(rt, world.admin, gone, "Prefers WhatsApp")
    await do_add_purchase(rt, None, gone, reference="A-1", amount=10, currency="EUR")
    await do_add_purchase(rt, None, gone, reference="A-2", amount=20, currency="EUR")
    await do_add_purchase(rt, None, keep, reference="A-2", amount=20, currency="EUR")
    async with rt.write_sessions() as db, db.begin():
        (await db.get(Customer, keep)).name = ""  # type: ignore[union-attr]
    before = await snapshot(rt, keep, gone)

    await merge(rt, world.admin, keep, gone)
    merged = await snapshot(rt, keep, gone)
    assert merged != before
    assert (await load(rt, keep)).name == "M. Lopez"

    with captured_events(rt) as events:
        restored = await do_unmerge_customer(rt, world.admin, merged_id=gone)
    assert restored.id == gone and restored.merged_into_id is None
    assert await snapshot(rt, keep, gone) == before
    [published] = events
    assert published.event.type == "customer.unmerged"
    assert published.audience.agent_ids == {
        world.admin.id,
        world.lead.id,
        world.ana.id,
        world.ben.id,
        world.olga.id,
    }

    # And again: a second round trip is as exact as the first.
    await merge(rt, world.admin, keep, gone)
    await do_unmerge_customer(rt, world.admin, merged_id=gone)
    assert await snapshot(rt, keep, gone) == before


async def test_unmerge_refusals_say_why(rt: Runtime, world: World) -> None:
    keep, gone = await maria_and_her_whatsapp(rt, world)
    with pytest.raises(BadRequest, match="not merged"):
        await do_unmerge_customer(rt, world.admin, merged_id=gone)

    third = await customer_of(rt, inbound(world.email_inbox.id, email="third@acme.test"))
    await merge(rt, world.admin, keep, gone)
    await merge(rt, world.admin, third, keep)
    with pytest.raises(Conflict, match="undo that merge first"):
        await do_unmerge_customer(rt, world.admin, merged_id=gone)
    await do_unmerge_customer(rt, world.admin, merged_id=keep)

    async with rt.write_sessions() as db, db.begin():
        await db.execute(delete(Identity).where(Identity.kind == "whatsapp"))
    with pytest.raises(Conflict, match=r"identity \d+ no longer exists"):
        await do_unmerge_customer(rt, world.admin, merged_id=gone)
    assert (await load(rt, gone)).merged_into_id == keep


async def test_new_message_from_a_merged_identity_lands_on_the_kept_customer(
    rt: Runtime, world: World
) -> None:
    keep, gone = await maria_and_her_whatsapp(rt, world)
    await merge(rt, world.admin, keep, gone)
    again = replace(
        inbound(world.sales_inbox.id, text="Hello again"),
        identities=(ref("whatsapp", "+4915112345678"),),
    )
    received = await ingest(rt, again)
    assert received.message.customer_id == keep
    async with rt.read_sessions() as db:
        conv = await db.get(Conversation, received.message.conversation_id)
    assert conv is not None and conv.customer_id == keep


async def test_duplicates_say_why_and_respect_access(rt: Runtime, world: World) -> None:
    maria = await customer_of(
        rt,
        inbound(
            world.email_inbox.id,
            email="maria+shop@acme.test",
            phone="+4915112345678",
            name="Maria Lopez",
        ),
    )
    by_email = await customer_of(
        rt, inbound(world.chat_inbox.id, email="Maria@acme.test", name="Mary")
    )
    by_phone = await customer_of(
        rt,
        replace(
            inbound(world.sales_inbox.id, name="ML"),
            identities=(ref("whatsapp", "+49 (151) 1234-5678"),),
        ),
    )
    by_name = await customer_of(
        rt, inbound(world.chat_inbox.id, email="m.lopez@acme.test", name="  maria   LOPEZ ")
    )
    # Same name at a free-mail domain says nothing; another name at the same domain neither.
    free_a = await customer_of(
        rt, inbound(world.email_inbox.id, email="tom1@gmail.com", name="Tom")
    )
    await customer_of(rt, inbound(world.email_inbox.id, email="tom2@gmail.com", name="Tom"))
    await customer_of(rt, inbound(world.email_inbox.id, email="joe@acme.test", name="Joe"))

    async with rt.read_sessions() as db:
        seen_by_admin = await likely_duplicates(db, maria, viewer=world.admin)
        seen_by_ana = await likely_duplicates(db, maria, viewer=world.ana)
        free = await likely_duplicates(db, free_a, viewer=world.admin)
    assert {s.customer.id: [r.text for r in s.reasons] for s in seen_by_admin} == {
        by_email: ["Same email address maria@acme.test"],
        by_phone: ["Same phone number +4915112345678"],
        by_name: ["Same name and an email at acme.test"],
    }
    # Ana can't see the Sales WhatsApp customer.
    assert [s.customer.id for s in seen_by_ana] == [by_email, by_name]
    assert free == []

    await merge(rt, world.admin, maria, by_email)
    async with rt.read_sessions() as db:
        remaining = await likely_duplicates(db, maria, viewer=world.admin)
        of_merged = await likely_duplicates(db, by_email, viewer=world.admin)
    assert [s.customer.id for s in remaining] == [by_phone, by_name]
    assert of_merged == []


def bearer(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


async def test_api_duplicates_merge_and_unmerge(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    keep, gone = await maria_and_her_whatsapp(rt, world)
    admin = bearer(world, "admin")
    found = await client.get(f"/api/v1/customers/{keep}/duplicates", headers=admin)
    assert found.status_code == 200, found.text
    [dup] = found.json()["duplicates"]
    assert dup["customer"]["id"] == gone
    assert dup["reasons"] == [
        {"rule": "phone", "value": "+4915112345678", "text": "Same phone number +4915112345678"}
    ]
    ana = await client.get(f"/api/v1/customers/{keep}/duplicates", headers=bearer(world, "ana"))
    assert ana.json() == {"duplicates": []}

    body = {"merge_id": gone, "versions": {"keep": 0, "merge": dup["customer"]["version"]}}
    stale = await client.post(f"/api/v1/customers/{keep}/merge", json=body, headers=admin)
    assert stale.status_code == 409
    assert "changed since you looked" in stale.json()["error"]["message"]

    v = await versions(rt, keep, gone)
    body["versions"] = {"keep": v[keep], "merge": v[gone]}
    merged = await client.post(f"/api/v1/customers/{keep}/merge", json=body, headers=admin)
    assert merged.status_code == 200, merged.text
    kept = merged.json()["customer"]
    assert kept["version"] == v[keep] + 1
    assert {i["kind"] for i in kept["identities"]} == {"email", "phone", "whatsapp"}

    into_self = await client.post(
        f"/api/v1/customers/{keep}/merge",
        json={"merge_id": keep, "versions": {"keep": 1, "merge": 1}},
        headers=admin,
    )
    assert into_self.status_code == 400
    assert "into itself" in into_self.json()["error"]["message"]

    shown = (await client.get(f"/api/v1/customers/{gone}", headers=admin)).json()
    assert shown["customer"]["merged_into_id"] == keep
    undone = await client.post(f"/api/v1/customers/{gone}/unmerge", headers=admin)
    assert undone.status_code == 200, undone.text
    assert undone.json()["customer"]["merged_into_id"] is None
    assert [i["kind"] for i in undone.json()["customer"]["identities"]] == ["whatsapp"]
    again = await client.post(f"/api/v1/customers/{gone}/unmerge", headers=admin)
    assert again.status_code == 400


async def test_customer_page_merges_and_undoes_with_csrf(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    keep, gone = await maria_and_her_whatsapp(rt, world)
    token = await login(client, "admin@example.test")
    page = (await client.get(f"/customers/{keep}")).text
    assert "Possible duplicates" in page
    assert "Same phone number +4915112345678" in page
    assert f'hx-post="/customers/{keep}/merge"' in page and "hx-confirm=" in page
    v = await versions(rt, keep, gone)
    form = {"merge_id": str(gone), "keep_version": str(v[keep]), "merge_version": str(v[gone])}

    forged = await client.post(f"/customers/{keep}/merge", data=form, headers=HTMX)
    assert forged.status_code == 403
    assert (await load(rt, gone)).merged_into_id is None

    merged = await client.post(
        f"/customers/{keep}/merge", data=form, headers={**HTMX, "X-CSRF-Token": token}
    )
    assert merged.status_code == 200, merged.text
    assert 'id="customer-page"' in merged.text
    assert "Possible duplicates" not in merged.text
    assert "Sales WhatsApp" in merged.text  # its conversation is listed here now

    stale = await client.post(
        f"/customers/{keep}/merge", data=form, headers={**HTMX, "X-CSRF-Token": token}
    )
    assert stale.status_code == 400 and "already merged" in stale.text

    merged_page = (await client.get(f"/customers/{gone}")).text
    assert "Merged into" in merged_page and f'href="/customers/{keep}"' in merged_page
    assert "Undo merge" in merged_page
    assert (await client.post(f"/customers/{gone}/unmerge", headers=HTMX)).status_code == 403
    undone = await client.post(f"/customers/{gone}/unmerge", data={"csrf_token": token})
    assert undone.status_code == 303
    restored = (await client.get(f"/customers/{gone}")).text
    assert "Merged into" not in restored and "Sales WhatsApp" in restored
