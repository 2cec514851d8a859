"""Helpers shared by the test_api_* modules (this module holds no tests)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from sqlalchemy import func, select

from inbox.channels.base import InboundMessage
from inbox.channels.ingest import ingest
from inbox.runtime import Runtime
from tests.conftest import PASSWORD, World
from tests.helpers import inbound


def bearer(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


async def new_conversation(rt: Runtime, inbox_id: int, **kwargs: Any) -> int:
    """A conversation opened by a customer's message; returns its id."""
    received = await ingest(rt, inbound(inbox_id, **kwargs))
    return received.message.conversation_id


async def receive(rt: Runtime, message: InboundMessage) -> int:
    received = await ingest(rt, message)
    return received.message.conversation_id


async def count(rt: Runtime, model: type) -> int:
    async with rt.read_sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["status"] == response.status_code
    return body["error"]  # type: ignore[no-any-return]


async def sign_in(client: httpx.AsyncClient, email: str) -> str:
    """Sign in through the login form; returns the new session's CSRF token.

    The token is read from the signed session cookie, so these tests need no
    page that embeds it.
    """
    page = await client.get("/login")
    form_token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": form_token, "next": "/"},
    )
    assert response.status_code == 303, response.text
    payload = client.cookies["inbox_session"].split(".", 1)[0]
    token = json.loads(base64.b64decode(payload))["csrf"]
    assert isinstance(token, str)
    return token
