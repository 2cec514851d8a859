"""The widget's HTTP side: `/chat/widget.js` and `POST /chat/session` (CORS).

`POST /chat/session` takes JSON:

    {"inbox": "<public key>", "token": "<kept token, if any>",
     "user_id": "...", "user_hash": "<hex HMAC-SHA256(user_id, secret)>",
     "name": "..."}

and answers `{"token", "resumed", "verified", "agents_online", "socket"}`.
A kept token of this inbox (and of the same verified user, if any) resumes
its chat; any other token is not honoured and a new session starts. Only a
valid `user_hash` makes the visitor the site's user (see socket.py for what
that links); an invalid one is answered as an ordinary, unverified visitor.

Browsers call it from the embedding site, so it answers CORS for the origins
the inbox allows (all, when the admin listed none) and never with
credentials: the token in the body is the only credential.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from inbox.actions.live_chat import do_start_visitor
from inbox.channels.chat.presence import agents_online
from inbox.channels.chat.settings import (
    SECRET_NAME,
    WIDGET_PATH,
    chat_config,
    find_chat_inbox,
    origin_allowed,
    user_hash_valid,
)
from inbox.channels.chat.visitors import visitor_by_token
from inbox.config import STATIC_DIR
from inbox.models import Inbox
from inbox.views.requests import runtime

SOCKET_PATH = "/chat/socket"
_MAX_BODY = 8 * 1024


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    inbox: str = Field(min_length=1, max_length=64)
    token: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    user_hash: str | None = Field(default=None, max_length=128)
    name: str = Field(default="", max_length=200)


def _cors(origin: str | None) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def _refuse(status: int, reason: str, origin: str | None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=_cors(origin))


async def _allowed_inbox(request: Request, key: str) -> Inbox | None:
    async with runtime(request).read_sessions() as db:
        inbox = await find_chat_inbox(db, key)
    config = chat_config(inbox) if inbox is not None else None
    if inbox is None or config is None:
        return None
    return inbox if origin_allowed(config, request.headers.get("origin")) else None


async def preflight(request: Request) -> Response:
    # The inbox key is in the body, which a preflight lacks: the POST itself
    # answers for the inbox's own list.
    origin = request.headers.get("origin")
    return Response(
        status_code=204,
        headers={
            **_cors(origin),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        },
    )


async def start_session(request: Request) -> Response:
    origin = request.headers.get("origin")
    body = await request.body()
    if len(body) > _MAX_BODY:
        return _refuse(413, "the request is too large", origin)
    try:
        given = SessionIn.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return _refuse(400, f"{where}: {first['msg']}", origin)
    rt = runtime(request)
    async with rt.read_sessions() as db:
        inbox = await find_chat_inbox(db, given.inbox)
        kept = await visitor_by_token(db, given.token) if given.token else None
    config = chat_config(inbox) if inbox is not None else None
    if inbox is None or config is None:
        return _refuse(404, "no live chat with this key", origin)
    if not origin_allowed(config, origin):
        # No CORS headers: the page can't read even the refusal.
        return JSONResponse({"error": "this site may not embed this chat"}, status_code=403)
    verified_user = None
    if given.user_id is not None and user_hash_valid(
        given.user_id, given.user_hash or "", inbox.secrets.get(SECRET_NAME)
    ):
        verified_user = given.user_id
    if kept is not None and kept.inbox_id == inbox.id and kept.verified_user_id == verified_user:
        token, resumed = given.token, True
    else:
        started = await do_start_visitor(
            rt, inbox.id, verified_user_id=verified_user, display_name=given.name
        )
        token, resumed = started.token, False
    return JSONResponse(
        {
            "token": token,
            "resumed": resumed,
            "verified": verified_user is not None,
            "agents_online": await agents_online(rt, inbox.id),
            "socket": SOCKET_PATH,
        },
        headers=_cors(origin),
    )


async def widget_js(request: Request) -> Response:
    return FileResponse(
        STATIC_DIR / "chat" / "widget.js",
        media_type="text/javascript",
        headers={
            "Cache-Control": "public, max-age=300",
            # Loaded by other sites' pages, as a script.
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


routes = [
    Route(WIDGET_PATH, widget_js, methods=["GET"]),
    Route("/chat/session", start_session, methods=["POST"]),
    Route("/chat/session", preflight, methods=["OPTIONS"]),
]
