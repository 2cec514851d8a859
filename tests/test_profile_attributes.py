"""Typed customer fields, and editing the profile against a version (API and page)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from inbox.channels.ingest import ingest
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.helpers import inbound

HTMX = {"HX-Request": "true"}


def bearer(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


async def define(client: httpx.AsyncClient, world: World, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/customer-fields", json=body, headers=bearer(world, "admin"))


async def standard_fields(client: httpx.AsyncClient, world: World) -> None:
    for body in (
        {"key": "plan", "label": "Plan", "type": "choice", "options": ["free", "pro"]},
        {"key": "seats", "label": "Seats", "type": "number"},
        {"key": "renewal", "label": "Renewal date", "type": "date"},
        {"key": "vip", "label": "VIP", "type": "boolean"},
        {"key": "company", "label": "Company", "type": "text"},
    ):
        response = await define(client, world, **body)
        assert response.status_code == 201, response.text


async def maria(rt: Runtime, world: World) -> int:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    return received.message.customer_id


async def profile(client: httpx.AsyncClient, world: World, who: str, cid: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/customers/{cid}/profile", headers=bearer(world, who))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_admins_define_fields_and_everyone_reads_them(
    client: httpx.AsyncClient, world: World
) -> None:
    await standard_fields(client, world)
    listed = await client.get("/api/v1/customer-fields", headers=bearer(world, "ana"))
    assert [(f["key"], f["type"]) for f in listed.json()["fields"]] == [
        ("plan", "choice"),
        ("seats", "number"),
        ("renewal", "date"),
        ("vip", "boolean"),
        ("company", "text"),
    ]
    refused = await client.post(
        "/api/v1/customer-fields",
        json={"key": "x", "label": "X", "type": "text"},
        headers=bearer(world, "ana"),
    )
    assert refused.status_code == 403
    taken = await define(client, world, key="plan", label="Plan again", type="text")
    assert taken.status_code == 409
    for body, reason in (
        ({"key": "Bad Key", "label": "B", "type": "text"}, "lower-case"),
        ({"key": "tier", "label": "Tier", "type": "choice"}, "at least one option"),
        ({"key": "age", "label": "Age", "type": "number", "options": ["1"]}, "only a choice"),
    ):
        bad = await define(client, world, **body)
        assert bad.status_code == 400 and reason in bad.json()["error"]["message"], bad.text


async def test_values_are_checked_against_their_type_on_every_write(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    await standard_fields(client, world)
    cid = await maria(rt, world)
    url = f"/api/v1/customers/{cid}/profile"
    version = (await profile(client, world, "ana", cid))["customer"]["version"]
    for attributes, reason in (
        ({"seats": "twelve"}, "Seats (seats): expected a number"),
        ({"renewal": "2025-13-01"}, "is not a date"),
        ({"plan": "enterprise"}, "is not one of: free, pro"),
        ({"vip": "yes"}, "expected true or false"),
        ({"nickname": "Mari"}, "there is no customer field 'nickname'"),
    ):
        bad = await client.post(
            url, json={"version": version, "attributes": attributes}, headers=bearer(world, "ana")
        )
        assert bad.status_code == 400, bad.text
        assert reason in bad.json()["error"]["message"]
    good = await client.post(
        url,
        json={
            "version": version,
            "name": "Maria López",
            "attributes": {"seats": 12, "renewal": "2025-03-01", "plan": "pro", "vip": True},
        },
        headers=bearer(world, "ana"),
    )
    assert good.status_code == 200, good.text
    customer = good.json()["customer"]
    assert customer["name"] == "Maria López" and customer["version"] == version + 1
    assert customer["attributes"] == {
        "seats": 12,
        "renewal": "2025-03-01",
        "plan": "pro",
        "vip": True,
    }
    fields = {f["key"]: f["value"] for f in (await profile(client, world, "ben", cid))["fields"]}
    assert fields == {
        "plan": "pro",
        "seats": 12,
        "renewal": "2025-03-01",
        "vip": True,
        "company": None,
    }
    # null clears a value.
    cleared = await client.post(
        url,
        json={"version": version + 1, "attributes": {"seats": None}},
        headers=bearer(world, "ana"),
    )
    assert "seats" not in cleared.json()["customer"]["attributes"]


async def test_a_stale_api_edit_is_refused_with_the_current_values(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    await standard_fields(client, world)
    cid = await maria(rt, world)
    url = f"/api/v1/customers/{cid}/profile"
    seen = (await profile(client, world, "ana", cid))["customer"]["version"]
    first = await client.post(
        url, json={"version": seen, "attributes": {"plan": "pro"}}, headers=bearer(world, "ben")
    )
    assert first.status_code == 200
    stale = await client.post(
        url, json={"version": seen, "attributes": {"plan": "free"}}, headers=bearer(world, "ana")
    )
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert "someone else changed" in error["message"]
    assert error["details"]["version"] == seen + 1
    assert error["details"]["current"]["attributes"] == {"plan": "pro"}
    assert (await profile(client, world, "ana", cid))["customer"]["attributes"] == {"plan": "pro"}
    # Tags too.
    tags = await client.post(
        f"/api/v1/customers/{cid}/tags",
        json={"version": seen, "add": ["VIP"]},
        headers=bearer(world, "ana"),
    )
    assert tags.status_code == 409
    tags = await client.post(
        f"/api/v1/customers/{cid}/tags",
        json={"version": seen + 1, "add": ["VIP", "reseller"]},
        headers=bearer(world, "ana"),
    )
    assert tags.json()["customer"]["tags"] == ["reseller", "vip"]
    removed = await client.post(
        f"/api/v1/customers/{cid}/tags",
        json={"version": seen + 2, "remove": ["reseller"]},
        headers=bearer(world, "ana"),
    )
    assert removed.json()["customer"]["tags"] == ["vip"]
    # Olga can't see Maria: as if she didn't exist.
    hidden = await client.post(
        url, json={"version": seen + 3, "name": "X"}, headers=bearer(world, "olga")
    )
    assert hidden.status_code == 404


async def test_the_page_shows_fields_and_refuses_a_stale_edit_clearly(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    await standard_fields(client, world)
    cid = await maria(rt, world)
    api = f"/api/v1/customers/{cid}/profile"
    # A free-form attribute from before fields existed keeps showing.
    await client.post(
        api, json={"version": 1, "attributes": {"company": "Acme"}}, headers=bearer(world, "admin")
    )
    csrf = await login(client, "ana@example.test")
    page = await client.get(f"/customers/{cid}")
    assert re.search(
        r'<dt title="company">Company</dt><dd data-field="company">Acme</dd>', page.text
    )
    version = int(re.search(r'name="version" value="(\d+)"', page.text).group(1))  # type: ignore[union-attr]

    saved = await client.post(
        f"/customers/{cid}/profile",
        data={
            "version": version,
            "name": "Maria L.",
            "attr:seats": "1,200",
            "attr:vip": "yes",
            "attr:plan": "pro",
            "add_tags": "Priority",
        },
        headers={**HTMX, "X-CSRF-Token": csrf},
    )
    assert saved.status_code == 200, saved.text
    assert 'data-field="seats">1,200<' in saved.text and 'data-field="vip">Yes<' in saved.text
    assert ">Maria L.</a>" in saved.text and "priority" in saved.text

    bad = await client.post(
        f"/customers/{cid}/profile",
        data={"version": version + 1, "attr:renewal": "next week"},
        headers={**HTMX, "X-CSRF-Token": csrf},
    )
    assert bad.status_code == 400
    assert "Renewal date (renewal): &#39;next week&#39; is not a date" in bad.text
    assert 'value="next week"' in bad.text  # what was typed stays, to correct

    # A colleague changes the plan; Ana's form still holds the version she opened.
    await client.post(
        api,
        json={"version": version + 1, "attributes": {"plan": "free"}},
        headers=bearer(world, "ben"),
    )
    stale = await client.post(
        f"/customers/{cid}/profile",
        data={"version": version + 1, "name": "Maria L.", "attr:plan": "pro"},
        headers={**HTMX, "X-CSRF-Token": csrf},
    )
    assert stale.status_code == 409
    assert "Someone else changed this profile" in stale.text
    assert '<option value="free" selected>' in stale.text  # the current value...
    assert "You had typed: “pro” (not saved)" in stale.text  # ...beside hers
    assert 'data-field="plan">free<' in stale.text
    assert f'name="version" value="{version + 2}"' in stale.text
    after = await profile(client, world, "ana", cid)
    assert after["customer"]["attributes"]["plan"] == "free"

    # A tag's remove button carries the version too.
    chip = await client.post(
        f"/customers/{cid}/profile/tags",
        data={"version": version, "remove": "priority"},
        headers={**HTMX, "X-CSRF-Token": csrf},
    )
    assert chip.status_code == 409 and "Someone else changed this profile" in chip.text
    chip = await client.post(
        f"/customers/{cid}/profile/tags",
        data={"version": version + 2, "remove": "priority"},
        headers={**HTMX, "X-CSRF-Token": csrf},
    )
    assert chip.status_code == 200 and "priority" not in chip.text


async def test_admins_manage_fields_on_a_page(client: httpx.AsyncClient, world: World) -> None:
    csrf = await login(client, "admin@example.test")
    created = await client.post(
        "/admin/customer-fields",
        data={
            "key": "tier",
            "label": "Tier",
            "type": "choice",
            "options": "gold\nsilver\n",
            "csrf_token": csrf,
        },
    )
    assert created.status_code == 303
    page = await client.get("/admin/customer-fields")
    assert "<code>tier</code>" in page.text and "gold, silver" in page.text
    refused = await client.post(
        "/admin/customer-fields",
        data={"key": "level", "label": "Level", "type": "choice", "csrf_token": csrf},
    )
    assert refused.status_code == 400 and "needs at least one option" in refused.text
    assert 'value="level"' in refused.text
    field_id = re.search(r'id="field-(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    gone = await client.post(f"/admin/customer-fields/{field_id}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303
    assert "<code>tier</code>" not in (await client.get("/admin/customer-fields")).text

    client.cookies.clear()
    await login(client, "ana@example.test")
    assert (await client.get("/admin/customer-fields")).status_code == 403
