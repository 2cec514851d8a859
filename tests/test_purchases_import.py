"""Purchases: idempotent creation through the API, and CSV import (API, admin page, CLI)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from inbox.channels.ingest import ingest
from inbox.cli import main
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.helpers import inbound


def bearer(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


async def customers(rt: Runtime, world: World) -> tuple[int, int, int]:
    """Maria (email + phone) and Tom in Support's inbox; Sven only in Sales'."""
    maria = await ingest(
        rt, inbound(world.email_inbox.id, email="maria@example.test", phone="+4915112345678")
    )
    tom = await ingest(rt, inbound(world.email_inbox.id, email="tom@example.test", name="Tom"))
    sven = await ingest(rt, inbound(world.sales_inbox.id, phone="+46701234567", name="Sven"))
    return maria.message.customer_id, tom.message.customer_id, sven.message.customer_id


async def purchases(client: httpx.AsyncClient, world: World, cid: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/customers/{cid}/profile", headers=bearer(world, "admin"))
    found: list[dict[str, Any]] = response.json()["purchases"]
    return found


async def test_recording_a_purchase_twice_adds_it_once(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    maria, _, sven = await customers(rt, world)
    url = f"/api/v1/customers/{maria}/purchases"
    body = {
        "reference": "A-100",
        "amount": 49.9,
        "currency": "eur",
        "description": "Boots",
        "purchased_at": "2025-01-05T10:00:00Z",
    }
    first = await client.post(url, json=body, headers=bearer(world, "ana"))
    assert first.status_code == 200, first.text
    assert first.json()["created"] is True
    assert first.json()["purchase"]["currency"] == "EUR"
    again = await client.post(url, json=body, headers=bearer(world, "ana"))
    assert again.json() == {**first.json(), "created": False}
    other = await client.post(url, json={**body, "amount": 10}, headers=bearer(world, "ana"))
    assert other.status_code == 409 and "with other details" in other.text
    bad = await client.post(url, json={**body, "currency": "euro"}, headers=bearer(world, "ana"))
    assert bad.status_code == 400 and "ISO 4217" in bad.text
    assert [p["reference"] for p in await purchases(client, world, maria)] == ["A-100"]
    hidden = await client.post(
        f"/api/v1/customers/{sven}/purchases", json=body, headers=bearer(world, "ana")
    )
    assert hidden.status_code == 404


CSV = (
    "Email,Phone,customer_id,reference,amount,currency,description,purchased_at\n"
    "maria@example.test,,,A-1,19.90,EUR,Socks,2025-01-02\n"  # line 2: by email
    ',+49 151 12345678,,A-2,"1,250.00",EUR,"Coat, wool",2025-01-03T09:00:00+01:00\n'
    "MARIA@example.test,,,A-1,19.90,EUR,Socks,2025-01-02\n"  # line 4: the same again
    ",,{tom},T-1,5,USD,Gift card,\n"  # line 5: by id
    "nobody@example.test,,,N-1,5,EUR,,\n"  # line 6: no such customer
    ",,{tom},T-2,five,USD,,\n"  # line 7: bad amount
    ",,{tom},T-3,5,US,,\n"  # line 8: bad currency
    ",+46701234567,,S-1,5,SEK,,\n"  # line 9: Sven: not Ana's to see
    ",,{tom},T-1,6,USD,Gift card,\n"  # line 10: known reference, other details
    ",,,X-1,5,EUR,,\n"  # line 11: nobody named
    ",,{tom},T-4,5,USD,,2025-02-30\n"  # line 12: bad date
)


async def test_csv_import_reports_each_bad_row_and_keeps_every_good_one(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    maria, tom, _ = await customers(rt, world)
    text = CSV.format(tom=tom)
    response = await client.post(
        "/api/v1/purchases/import", json={"csv": text}, headers=bearer(world, "ana")
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created"], report["unchanged"]) == (3, 1)
    problems = {p["line"]: p["reason"] for p in report["problems"]}
    assert sorted(problems) == [6, 7, 8, 9, 10, 11, 12]
    assert problems[6] == "no email nobody@example.test found"
    assert "'five' is not a number" in problems[7]
    assert "ISO 4217" in problems[8]
    assert problems[9] == "no phone +46701234567 found"  # exists, but not for Ana
    assert "already on customer" in problems[10] and "other details" in problems[10]
    assert "no customer_id, email or phone" in problems[11]
    assert "not an ISO 8601 date" in problems[12]
    maria_has = {p["reference"]: p for p in await purchases(client, world, maria)}
    assert sorted(maria_has) == ["A-1", "A-2"]
    assert maria_has["A-2"]["amount"] == 1250.0 and maria_has["A-2"]["description"] == "Coat, wool"
    assert maria_has["A-2"]["purchased_at"] == "2025-01-03T08:00:00Z"
    assert [p["reference"] for p in await purchases(client, world, tom)] == ["T-1"]

    again = await client.post(
        "/api/v1/purchases/import", json={"csv": text}, headers=bearer(world, "ana")
    )
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 4)
    assert len(await purchases(client, world, maria)) == 2

    for csv, reason in (
        ("", "the file is empty"),
        ("email,reference,amount\n", "missing columns: currency"),
        ("email,reference,amount,currency,colour\n", "unknown columns: colour"),
        ("reference,amount,currency\n", "customer_id, email or phone column"),
    ):
        refused = await client.post(
            "/api/v1/purchases/import", json={"csv": csv}, headers=bearer(world, "ana")
        )
        assert refused.status_code == 400 and reason in refused.json()["error"]["message"]


async def test_the_admin_page_imports_an_uploaded_file(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    _, tom, sven = await customers(rt, world)
    csrf = await login(client, "admin@example.test")
    upload = await client.post(
        "/admin/purchases",
        data={"csrf_token": csrf},
        files={"file": ("orders.csv", CSV.format(tom=tom).encode(), "text/csv")},
    )
    assert upload.status_code == 200, upload.text
    # The admin sees Sven, so line 9 is imported for them.
    assert '<strong data-count="created">4</strong>' in upload.text
    assert '<td class="num">6</td><td>no email nobody@example.test found</td>' in upload.text
    assert [p["reference"] for p in await purchases(client, world, sven)] == ["S-1"]
    not_utf8 = await client.post(
        "/admin/purchases",
        data={"csrf_token": csrf},
        files={"file": ("orders.csv", "email\n\xe9".encode("latin-1"), "text/csv")},
    )
    assert not_utf8.status_code == 400 and "not UTF-8" in not_utf8.text


async def test_the_cli_imports_with_a_report_and_is_safe_to_repeat(
    rt: Runtime, world: World, database_url: str, tmp_path: Path
) -> None:
    _, tom, _ = await customers(rt, world)
    path = tmp_path / "orders.csv"
    path.write_text(CSV.format(tom=tom))
    env = {
        "INBOX_DATABASE_URL": database_url,
        "INBOX_DATA_DIR": str(tmp_path),
        "INBOX_SECRET_KEY": "cli-test-secret-key",
    }
    runner = CliRunner()
    first = await asyncio.to_thread(runner.invoke, main, ["import-purchases", str(path)], env=env)
    assert first.exit_code == 1, first.output  # some rows were bad
    assert "imported 4 purchases; 1 were there already; 6 rows not imported" in first.output
    assert "line 7: amount 'five' is not a number" in first.output
    second = await asyncio.to_thread(runner.invoke, main, ["import-purchases", str(path)], env=env)
    assert "imported 0 purchases; 5 were there already" in second.output
    missing = await asyncio.to_thread(
        runner.invoke, main, ["import-purchases", str(tmp_path / "nope.csv")], env=env
    )
    assert missing.exit_code == 2
