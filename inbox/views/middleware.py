"""Who is asking (session cookie or bearer token), CSRF, and security headers.

Pure ASGI middleware, so request bodies stream through untouched except when
a form has to be read for its CSRF field.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inbox.auth import agent_for_session, authenticate_token
from inbox.models import Agent
from inbox.runtime import Runtime

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_SESSION_KEY = "csrf"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 2 * 1024 * 1024


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def bearer_token(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class AuthMiddleware:
    """Sets `scope["state"]["agent"]` (or None) and how they authenticated.

    A request carrying an Authorization header is judged by it alone, never
    by a cookie that happens to ride along.
    """

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if scope["path"].startswith("/webhooks/"):
            # A webhook is authenticated by its sender's signature, never as an
            # agent: no cookie or token it carries is looked up.
            state["auth_via"], state["agent"] = None, None
        else:
            state["auth_via"], state["agent"] = await resolve_agent(self.runtime, scope)
        await self.app(scope, receive, send)


async def resolve_agent(rt: Runtime, scope: Scope) -> tuple[str | None, Agent | None]:
    """(how they authenticate, the agent or None) for a request or socket's scope.

    Sockets call it again while open, so a logout elsewhere, a password
    change or a rotated token ends them too, not only a deactivation.
    """
    token = bearer_token(Headers(scope=scope))
    async with rt.read_sessions() as db:
        if token is not None:
            return "token", (await authenticate_token(db, token) if token else None)
        session = scope.get("session") or {}
        if "agent_id" not in session:
            return None, None
        return "session", await agent_for_session(db, session.get("agent_id"), session.get("sv"))


class CsrfMiddleware:
    """Every unsafe request riding on the session cookie must carry the session's token.

    The token may come as the `X-CSRF-Token` header (htmx sends it) or as the
    `csrf_token` form field (plain forms). Bearer-token requests are exempt:
    a browser never attaches that header on its own.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/webhooks/") or scope["path"] == "/chat/session":
            # Webhooks are authenticated by the sender's signature over the body
            # and never read the session, so a cookie riding along grants nothing
            # to forge: there is no ambient credential for CSRF to protect. The
            # chat widget's session carries its visitor token in the body, alike.
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if bearer_token(headers) is not None:
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/api/") and scope.get("state", {}).get("agent") is None:
            # Nobody is signed in, so there is nothing to forge; the API answers 401 itself.
            await self.app(scope, receive, send)
            return
        expected = (scope.get("session") or {}).get(CSRF_SESSION_KEY)
        supplied = headers.get(CSRF_HEADER)
        replay: list[Message] | None = None
        if supplied is None and headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            replay, supplied = await self._form_token(scope, receive)
            if replay is None:
                await _reject(scope, receive, send, 413, "request body too large")
                return
        if not (
            isinstance(expected, str)
            and isinstance(supplied, str)
            and hmac.compare_digest(expected.encode(), supplied.encode())
        ):
            await _reject(
                scope, receive, send, 403, "CSRF token missing or wrong; reload the page and retry"
            )
            return
        if replay is not None:
            receive = _replayer(replay)
        await self.app(scope, receive, send)

    async def _form_token(
        self, scope: Scope, receive: Receive
    ) -> tuple[list[Message] | None, str | None]:
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > MAX_FORM_BYTES:
                return None, None
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        request = Request(scope, _replayer(list(messages)))
        try:
            form = await request.form()
            value = form.get(CSRF_FORM_FIELD)
            await form.close()
        except Exception:  # a malformed form simply carries no token
            value = None
        return messages, value if isinstance(value, str) else None


def _replayer(messages: list[Message]) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return {"type": "http.disconnect"}

    return receive


async def _reject(scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
    response: Response
    if scope["path"].startswith("/api/"):
        response = JSONResponse({"error": {"status": status, "message": reason}}, status)
    else:
        response = PlainTextResponse(reason, status)
        if Headers(scope=scope).get("hx-request") == "true":
            # Shown in the flash area, not swapped into whatever was targeted.
            response.headers["HX-Retarget"] = "#flash"
            response.headers["HX-Reswap"] = "innerHTML"
    await response(scope, receive, send)


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", CSP)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "same-origin")
                headers.setdefault("x-frame-options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)
