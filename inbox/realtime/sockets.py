"""What every socket does on connect: check the origin and who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.websockets import WebSocket

from inbox.auth import Credential, token_hash
from inbox.models import Agent
from inbox.views.middleware import bearer_token
from inbox.views.requests import current_agent, runtime

# Close codes (4000-4999 are the application's own).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_DEACTIVATED = 4410
CLOSE_TOO_SLOW = 4408
CLOSE_BAD_REQUEST = 4400


def origin_allowed(ws: WebSocket) -> bool:
    """Browsers always send Origin; it must be this site or an allowed one.

    A cross-site page can't read our cookie, but a socket it opens would
    carry it; refusing foreign origins closes that hole. Clients that are
    not browsers send no Origin and authenticate with a bearer token.
    """
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    if origin in runtime(ws).settings.allowed_origins:
        return True
    host = ws.headers.get("host", "")
    return urlsplit(origin).netloc == host


async def authenticate(ws: WebSocket) -> Agent | None:
    """Accepts the socket; returns the agent, or closes it with the reason."""
    if not origin_allowed(ws):
        await ws.close(CLOSE_FORBIDDEN_ORIGIN, "origin not allowed")
        return None
    await ws.accept()
    agent = current_agent(ws)
    if agent is None:
        await ws.close(CLOSE_UNAUTHENTICATED, "sign in or send a valid bearer token")
        return None
    return agent


def credential_of(ws: WebSocket, agent: Agent) -> Credential:
    """What the socket signed in with, for the hub's heartbeat to check again."""
    token = bearer_token(ws.headers)
    if token:
        return Credential(agent.id, token_hash=token_hash(token))
    return Credential(agent.id, session_version=agent.session_version)


def parse_since(ws: WebSocket) -> int | str | None:
    """`?since=SEQ`: the number, None when absent, or the reason it is refused."""
    raw = ws.query_params.get("since")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        return "since must be a non-negative integer sequence number"
    return int(raw)


@dataclass(frozen=True)
class Opened:
    """A socket that passed every check on connect."""

    agent: Agent
    since: int | None
    credential: Credential


async def open_socket(ws: WebSocket) -> Opened | None:
    """Origin, sign-in and `since`, as both sockets check them on connect.

    None when the socket was closed with the reason (see the close codes).
    """
    agent = await authenticate(ws)
    if agent is None:
        return None
    since = parse_since(ws)
    if isinstance(since, str):
        await ws.close(CLOSE_BAD_REQUEST, since)
        return None
    return Opened(agent, since, credential_of(ws, agent))
