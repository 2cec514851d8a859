"""Where one request's time goes, measured in-process, one request at a time.

The app is built with `create_app` in this process and driven through ASGI
directly (no socket, no HTTP client), and the same work is also timed in
parts: token lookup, the query function, and turning its result into the
JSON response the endpoint sends. What the whole request costs beyond the
parts is routing, middleware and sessions. CPU is this process's (the
aiosqlite threads included); on PostgreSQL the database's own CPU is not in it.

This reaches into the app's internals (inbox.queries, inbox.api.serialise) on
purpose: it is a diagnostic, and breaks loudly if those move.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse

from bench.seed import Target, app_settings
from bench.workload import (
    LIST_URL,
    PAGE,
    TIMELINE_LIMIT,
    Workload,
    list_params,
    timeline_url,
)
from inbox.api.schemas import ConversationListOut, TimelineOut
from inbox.api.serialise import conversation_out, timeline_entry_out
from inbox.app import create_app
from inbox.auth import authenticate_token
from inbox.models import Agent
from inbox.queries import ConversationPage, Timeline, customer_timeline, list_conversations
from inbox.runtime import Runtime, create_runtime

Step = Callable[[int], Awaitable[Any]]


async def _timed(step: Step, count: int) -> dict[str, float]:
    for i in range(max(10, count // 5)):
        await step(i)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(count):
        await step(i)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"cpu_ms": round(cpu * 1000 / count, 3), "wall_ms": round(wall * 1000 / count, 3)}


def _asgi_get(app: Any, token: str) -> Callable[[str, dict[str, str]], Awaitable[int]]:
    async def get(path: str, params: dict[str, str]) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": b"",
            "root_path": "",
            "query_string": urlencode(params).encode(),
            "headers": [
                (b"host", b"bench"),
                (b"authorization", f"Bearer {token}".encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    return get


QUERY_FUNCTIONS = {"list_first": "list_conversations()", "timeline_long": "customer_timeline()"}


async def measure(target: Target, wl: Workload, count: int = 300) -> dict[str, dict[str, Any]]:
    rt: Runtime = create_runtime(app_settings(target.app_url))
    app = create_app(runtime=rt)
    get = _asgi_get(app, wl.token)
    try:
        async with rt.read_sessions() as db:
            found = await authenticate_token(db, wl.token)
        if found is None:
            raise RuntimeError("the bench token does not authenticate")
        agent: Agent = found

        async def auth(_: int) -> None:
            async with rt.read_sessions() as db:
                await authenticate_token(db, wl.token)

        async def list_query(i: int) -> ConversationPage:
            async with rt.read_sessions() as db:
                inbox_id = wl.inbox_ids[i % len(wl.inbox_ids)]
                return await list_conversations(db, agent, inbox_id=inbox_id, limit=PAGE)

        async def timeline_query(i: int) -> Timeline:
            async with rt.read_sessions() as db:
                customer = wl.heavy[i % len(wl.heavy)]
                return await customer_timeline(db, agent, customer, limit=TIMELINE_LIMIT)

        page = await list_query(0)
        timeline = await timeline_query(0)

        async def list_json(_: int) -> None:
            body = ConversationListOut(
                conversations=[conversation_out(r) for r in page.rows],
                next_cursor=page.next_cursor,
            )
            JSONResponse(body.model_dump(mode="json"))

        async def timeline_json(_: int) -> None:
            body = TimelineOut(
                entries=[timeline_entry_out(e) for e in timeline.entries],
                earlier_cursor=timeline.earlier_cursor,
            )
            JSONResponse(body.model_dump(mode="json"))

        async def list_request(i: int) -> None:
            status = await get(LIST_URL, list_params(wl.inbox_ids[i % len(wl.inbox_ids)]))
            if status != 200:
                raise RuntimeError(f"list answered {status}")

        async def timeline_request(i: int) -> None:
            customer = wl.heavy[i % len(wl.heavy)]
            status = await get(timeline_url(customer), {"limit": str(TIMELINE_LIMIT)})
            if status != 200:
                raise RuntimeError(f"timeline answered {status}")

        return {
            "list_first": {
                "token lookup": await _timed(auth, count),
                "query function": await _timed(list_query, count),
                "to JSON response": await _timed(list_json, count),
                "whole request (ASGI)": await _timed(list_request, count),
            },
            "timeline_long": {
                "token lookup": await _timed(auth, count),
                "query function": await _timed(timeline_query, count),
                "to JSON response": await _timed(timeline_json, count),
                "whole request (ASGI)": await _timed(timeline_request, count),
            },
        }
    finally:
        await rt.close()
