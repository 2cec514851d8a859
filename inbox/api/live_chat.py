"""Live chat inboxes for admins: create one (its embed snippet and identity secret
come back once), change its allowed origins and email follow-up, rotate its secret.

The identity secret is write-only: returned only by creation and rotation,
never by any read, log or audit entry.
"""

from __future__ import annotations

from pydantic import Field

from inbox.actions.live_chat import (
    do_create_chat_inbox,
    do_rotate_chat_secret,
    do_update_chat_settings,
)
from inbox.channels.chat.settings import chat_config, embed_snippet
from inbox.errors import NotFound
from inbox.models import Inbox

from .registry import Call, Endpoint
from .schemas import EmptyIn, Id, InboxOut, RequestBody, ResponseBody
from .serialise import inbox_out


class ChatSettingsIn(RequestBody):
    allowed_origins: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Sites that may embed the widget, as `https://host[:port]`; none: any site.",
    )
    email_inbox_id: Id | None = Field(
        default=None,
        description="The email inbox that sends replies to visitors who left an address "
        "while nobody was online.",
    )


class ChatInboxIn(ChatSettingsIn):
    name: str = Field(min_length=1, max_length=200)
    team_ids: list[Id] = Field(default_factory=list, description="Teams that may see it.")


class ChatInboxOut(ResponseBody):
    inbox: InboxOut
    public_key: str = Field(description="The key the embed snippet names (not a secret).")
    embed_snippet: str = Field(description="The `<script>` tag to put on the website.")
    allowed_origins: list[str]
    email_inbox_id: int | None


class ChatInboxCreatedOut(ChatInboxOut):
    identity_secret: str = Field(
        description="For `data-user-hash` = hex HMAC-SHA256(user id, secret). Shown only now."
    )


class ChatSecretOut(ResponseBody):
    identity_secret: str = Field(description="The new secret; the old one stops verifying.")


def _out(call: Call, inbox: Inbox) -> ChatInboxOut:
    config = chat_config(inbox)
    if config is None:
        raise NotFound("no live chat inbox with this id")
    return ChatInboxOut(
        inbox=inbox_out(inbox),
        public_key=config.public_key,
        embed_snippet=embed_snippet(str(call.request.base_url), config.public_key),
        allowed_origins=config.allowed_origins,
        email_inbox_id=config.email_inbox_id,
    )


async def create_live_chat_inbox(call: Call) -> ChatInboxCreatedOut:
    """Add a live chat inbox (admins): its embed snippet, and its identity secret, once."""
    body = call.body_as(ChatInboxIn)
    created = await do_create_chat_inbox(
        call.rt,
        call.agent,
        name=body.name,
        team_ids=list(body.team_ids),
        allowed_origins=list(body.allowed_origins),
        email_inbox_id=body.email_inbox_id,
    )
    out = _out(call, created.inbox)
    return ChatInboxCreatedOut(**out.model_dump(), identity_secret=created.identity_secret)


async def update_live_chat_settings(call: Call) -> ChatInboxOut:
    """Change which sites may embed the widget and which email inbox follows up (admins)."""
    body = call.body_as(ChatSettingsIn)
    inbox = await do_update_chat_settings(
        call.rt,
        call.agent,
        call.path_id("live chat inbox"),
        allowed_origins=list(body.allowed_origins),
        email_inbox_id=body.email_inbox_id,
    )
    return _out(call, inbox)


async def rotate_live_chat_secret(call: Call) -> ChatSecretOut:
    """Make a new identity secret (admins); returned once."""
    secret = await do_rotate_chat_secret(call.rt, call.agent, call.path_id("live chat inbox"))
    return ChatSecretOut(identity_secret=secret)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/inboxes/live_chat",
        "Add a live chat inbox",
        create_live_chat_inbox,
        ChatInboxCreatedOut,
        tag="live chat",
        status=201,
        body=ChatInboxIn,
        errors=(403, 404),
    ),
    Endpoint(
        "POST",
        "/inboxes/{id:int}/live_chat",
        "Change a live chat inbox's settings",
        update_live_chat_settings,
        ChatInboxOut,
        tag="live chat",
        body=ChatSettingsIn,
        errors=(403,),
    ),
    Endpoint(
        "POST",
        "/inboxes/{id:int}/live_chat/secret",
        "Rotate a live chat inbox's identity secret",
        rotate_live_chat_secret,
        ChatSecretOut,
        tag="live chat",
        body=EmptyIn,
        errors=(403,),
    ),
]
