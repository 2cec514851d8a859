from __future__ import annotations

import httpx


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_login_rejects_wrong_password(client: httpx.AsyncClient, world) -> None:  # type: ignore[no-untyped-def]
    page = await client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await client.post(
        "/login", data={"email": "ana@example.test", "password": "nope", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Wrong email or password" in response.text
