"""A website visitor for tests: the widget's session and socket, spoken as JSON."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import websockets

from inbox.actions.live_chat import ChatInboxCreated, do_create_chat_inbox
from inbox.runtime import Runtime
from tests.conftest import World

SITE = "https://shop.example"
_ids = itertools.count(1)


async def chat_inbox(rt: Runtime, world: World, **options: Any) -> ChatInboxCreated:
    """A live chat inbox the support team (Ana, Ben, the lead) sees."""
    return await do_create_chat_inbox(
        rt, world.admin, name="Shop chat", team_ids=[world.support.id], **options
    )


@dataclass
class Visitor:
    base_url: str
    key: str
    token: str
    origin: str = SITE
    last_id: int = 0
    seen: list[dict[str, Any]] = field(default_factory=list)

    @asynccontextmanager
    async def socket(self, after: int | None = None) -> AsyncIterator[Any]:
        query = urlencode(
            {
                "inbox": self.key,
                "token": self.token,
                "after": self.last_id if after is None else after,
            }
        )
        url = self.base_url.replace("http://", "ws://") + "/chat/socket?" + query
        async with websockets.connect(url, origin=self.origin) as ws:  # type: ignore[arg-type]
            yield ws

    async def say(self, ws: Any, text: str, client_id: str | None = None) -> dict[str, Any]:
        """Send a message; returns the server's ack."""
        client_id = client_id or f"c{next(_ids)}"
        await ws.send(json.dumps({"type": "message", "client_id": client_id, "text": text}))
        ack = await expect(ws, "ack")
        assert ack["client_id"] == client_id
        self.last_id = max(self.last_id, ack["id"])
        return ack


async def start(base_url: str, key: str, origin: str = SITE, **body: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url) as http:
        return await http.post(
            "/chat/session", json={"inbox": key, **body}, headers={"Origin": origin}
        )


async def visitor(base_url: str, key: str, origin: str = SITE, **body: Any) -> Visitor:
    answer = await start(base_url, key, origin, **body)
    assert answer.status_code == 200, answer.text
    return Visitor(base_url, key, answer.json()["token"], origin)


async def expect(ws: Any, kind: str, within: float = 5.0, **match: Any) -> dict[str, Any]:
    """The next frame of this type (and these values), others skipped."""
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame  # type: ignore[no-any-return]


async def nothing(ws: Any, kind: str, seconds: float = 0.5) -> bool:
    """True when no frame of this type arrives for a while."""
    try:
        await expect(ws, kind, within=seconds)
    except TimeoutError:
        return True
    return False
