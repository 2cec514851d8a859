"""A stand-in for the messaging providers' HTTP APIs, on a loopback port.

One small Starlette app speaks each provider's documented request and answer
formats (Telegram's Bot API, WhatsApp Cloud API and the Messenger Send API on
the Graph API, Twilio's Messages resource, and an integration receiving the
API channel's outbound webhook). It records every request exactly as it
arrived, and answers as scripted (a failure, then success) or, by default,
as the provider answers an accepted message.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.live import serve


@dataclass(frozen=True)
class Seen:
    """One request as the provider received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StandIn:
    base_url: str = ""
    seen: list[Seen] = field(default_factory=list)
    # Per provider ("telegram", "whatsapp", "messenger", "twilio", "hook"): answers
    # to give first, in order; afterwards the provider's success.
    scripted: dict[str, list[Answer]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def script(self, provider: str, *answers: Answer) -> None:
        self.scripted.setdefault(provider, []).extend(answers)

    def of(self, prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(prefix)]

    async def _record(self, request: Request) -> Seen:
        seen = Seen(
            request.method,
            request.url.path,
            request.url.query,
            {k.lower(): v for k, v in request.headers.items()},
            await request.body(),
        )
        self.seen.append(seen)
        return seen

    def _scripted(self, provider: str) -> Response | None:
        queue = self.scripted.get(provider)
        if not queue:
            return None
        answer = queue.pop(0)
        return JSONResponse(answer.body, answer.status, headers=answer.headers)

    async def telegram(self, request: Request) -> Response:
        seen = await self._record(request)
        scripted = self._scripted("telegram")
        if scripted is not None:
            return scripted
        sent = seen.json()
        return JSONResponse(
            {
                "ok": True,
                "result": {
                    "message_id": 4000 + next(self._ids),
                    "from": {"id": 7012345678, "is_bot": True, "first_name": "Shop"},
                    "chat": {"id": int(sent["chat_id"]), "type": "private"},
                    "date": 1767256400,
                    "text": sent["text"],
                },
            }
        )

    async def whatsapp(self, request: Request) -> Response:
        seen = await self._record(request)
        scripted = self._scripted("whatsapp")
        if scripted is not None:
            return scripted
        to = seen.json()["to"]
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI{next(self._ids):04d}"}],
            }
        )

    async def page(self, request: Request) -> Response:
        seen = await self._record(request)
        scripted = self._scripted("messenger")
        if scripted is not None:
            return scripted
        return JSONResponse(
            {
                "recipient_id": seen.json()["recipient"]["id"],
                "message_id": f"m_sent{next(self._ids):04d}AbCdEfGhIjKlMnOpQrStUvWxYz",
            }
        )

    async def twilio(self, request: Request) -> Response:
        await self._record(request)
        scripted = self._scripted("twilio")
        if scripted is not None:
            return scripted
        sid = f"SM{next(self._ids):032x}"
        return JSONResponse(
            {
                "sid": sid,
                "status": "queued",
                "account_sid": request.path_params["account_sid"],
                "api_version": "2010-04-01",
                "error_code": None,
                "error_message": None,
            },
            201,
        )

    async def hook(self, request: Request) -> Response:
        await self._record(request)
        scripted = self._scripted("hook")
        return scripted if scripted is not None else Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/sendMessage", self.telegram, methods=["POST"]),
                Route("/{version}/me/messages", self.page, methods=["POST"]),
                Route("/{version}/{number_id}/messages", self.whatsapp, methods=["POST"]),
                Route(
                    "/2010-04-01/Accounts/{account_sid}/Messages.json",
                    self.twilio,
                    methods=["POST"],
                ),
                Route("/hook", self.hook, methods=["POST"]),
            ]
        )


@asynccontextmanager
async def provider_standin() -> AsyncIterator[StandIn]:
    standin = StandIn()
    async with serve(standin.app()) as base_url:
        standin.base_url = base_url
        yield standin
