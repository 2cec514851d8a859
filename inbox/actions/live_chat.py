"""Live chat: setting up a chat inbox, visitors' sessions, and the offline email follow-up.

A visitor's messages themselves come in like any channel's, through
inbox.channels.ingest (see inbox/channels/chat/socket.py); what is here is
the rest: the inbox's public key and write-only identity secret, the hashed
token each widget keeps, the address a visitor leaves when nobody answers
live, and sending agents' replies there too while it is set.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from inbox.access import customer_audience
from inbox.channels.chat.settings import (
    SECRET_NAME,
    ChatConfig,
    chat_config,
    new_identity_secret,
    new_public_key,
)
from inbox.channels.chat.visitors import follow_up_address, token_hash, visitor_customer_id
from inbox.channels.email.settings import email_config
from inbox.errors import BadRequest, NotFound
from inbox.events import Audience, CustomerUpdated
from inbox.models import (
    Agent,
    ChannelKind,
    ChatVisitor,
    Conversation,
    Customer,
    Delivery,
    Inbox,
    Message,
    utcnow,
)
from inbox.profiles.identities import attach_free_identities, ref
from inbox.runtime import Runtime

from .agents import check_admin
from .inboxes import do_create_inbox
from .outbound_mail import queue_email
from .transaction import Transaction, transaction


@dataclass(frozen=True)
class ChatInboxCreated:
    inbox: Inbox
    identity_secret: str  # shown once, to the admin who made it


async def _check_email_inbox(tx: Transaction, email_inbox_id: int | None) -> None:
    if email_inbox_id is None:
        return
    inbox = await tx.session.get(Inbox, email_inbox_id)
    if inbox is None or inbox.channel is not ChannelKind.EMAIL:
        raise BadRequest(f"no email inbox with id {email_inbox_id} for the follow-up")


async def do_create_chat_inbox(
    rt: Runtime,
    actor: Agent | None,
    *,
    name: str,
    team_ids: list[int] | None = None,
    allowed_origins: list[str] | None = None,
    email_inbox_id: int | None = None,
) -> ChatInboxCreated:
    """A live chat inbox with a fresh public key and identity secret."""
    check_admin(actor)
    try:
        config = ChatConfig(
            public_key=new_public_key(),
            allowed_origins=allowed_origins or [],
            email_inbox_id=email_inbox_id,
        )
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    async with transaction(rt) as tx:
        await _check_email_inbox(tx, email_inbox_id)
    secret = new_identity_secret()
    inbox = await do_create_inbox(
        rt,
        actor,
        name=name,
        channel=ChannelKind.LIVE_CHAT,
        config=config.model_dump(),
        secrets={SECRET_NAME: secret},
        team_ids=team_ids,
    )
    return ChatInboxCreated(inbox, secret)


async def _chat_inbox(tx: Transaction, inbox_id: int) -> tuple[Inbox, ChatConfig]:
    inbox = await tx.session.get(Inbox, inbox_id)
    config = chat_config(inbox) if inbox is not None else None
    if inbox is None or config is None:
        raise NotFound("no live chat inbox with this id")
    return inbox, config


async def do_update_chat_settings(
    rt: Runtime,
    actor: Agent | None,
    inbox_id: int,
    *,
    allowed_origins: list[str],
    email_inbox_id: int | None,
) -> Inbox:
    """Which sites may embed the widget, and which email inbox takes the follow-up."""
    check_admin(actor)
    async with transaction(rt) as tx:
        inbox, config = await _chat_inbox(tx, inbox_id)
        await _check_email_inbox(tx, email_inbox_id)
        try:
            changed = ChatConfig(
                public_key=config.public_key,
                allowed_origins=allowed_origins,
                email_inbox_id=email_inbox_id,
            )
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        # The config is a JSON column: a new dict is what marks it changed.
        inbox.config = {**inbox.config, **changed.model_dump()}
        tx.audit(
            actor,
            "inbox.chat_settings",
            "inbox",
            inbox.id,
            allowed_origins=changed.allowed_origins,
            email_inbox_id=email_inbox_id,
        )
    return inbox


async def do_rotate_chat_secret(rt: Runtime, actor: Agent | None, inbox_id: int) -> str:
    """A new identity secret (returned once); hashes made with the old one stop verifying."""
    check_admin(actor)
    secret = new_identity_secret()
    async with transaction(rt) as tx:
        inbox, _ = await _chat_inbox(tx, inbox_id)
        inbox.secrets = {**inbox.secrets, SECRET_NAME: secret}
        # Which secret changed, never its value.
        tx.audit(actor, "inbox.chat_secret_rotated", "inbox", inbox.id)
    return secret


@dataclass(frozen=True)
class VisitorSession:
    visitor: ChatVisitor
    token: str  # the widget keeps it; only its hash is stored


async def do_start_visitor(
    rt: Runtime, inbox_id: int, *, verified_user_id: str | None = None, display_name: str = ""
) -> VisitorSession:
    """A new widget session for one inbox (the embedding site's user, when verified)."""
    token = secrets.token_urlsafe(32)
    async with transaction(rt) as tx:
        inbox, _ = await _chat_inbox(tx, inbox_id)
        visitor = ChatVisitor(
            inbox_id=inbox.id,
            public_id=f"v_{secrets.token_urlsafe(18)}",
            token_hash=token_hash(token),
            verified_user_id=verified_user_id,
            display_name=display_name.strip()[:200],
            created_at=utcnow(),
        )
        tx.session.add(visitor)
        await tx.session.flush()
        tx.audit(None, "chat.visitor_started", "inbox", inbox.id, visitor_id=visitor.id)
    return VisitorSession(visitor, token)


async def do_leave_follow_up_email(rt: Runtime, visitor_id: int, address: str) -> str:
    """Nobody answered live: replies also go to `address` until the visitor chats again.

    The address is the visitor's claim, so it never joins them to a customer
    who has it: it becomes an unverified identity of theirs only if nobody
    holds it yet. Returns the address, normalised.
    """
    email = ref("email", address).value
    async with transaction(rt) as tx:
        visitor = await tx.session.get(ChatVisitor, visitor_id)
        if visitor is None:
            raise NotFound("this chat session has ended")
        visitor.follow_up_email = email
        tx.audit(None, "chat.follow_up_email", "inbox", visitor.inbox_id, visitor_id=visitor.id)
        customer_id = await visitor_customer_id(tx.session, visitor)
        customer = await tx.session.get(Customer, customer_id) if customer_id else None
        if customer is not None and await attach_free_identities(
            tx.session, customer, [ref("email", email, verified=False)]
        ):
            customer.version += 1
            customer.updated_at = utcnow()
            tx.audit(None, "customer.updated", "customer", customer.id, fields=["identities"])
            tx.emit(
                CustomerUpdated(
                    customer_id=customer.id, fields=["identities"], version=customer.version
                ),
                Audience(await customer_audience(tx.session, customer.id)),
            )
    return email


async def do_end_follow_up(rt: Runtime, visitor_id: int) -> None:
    """The visitor is chatting live again: replies go to the chat alone."""
    async with transaction(rt) as tx:
        visitor = await tx.session.get(ChatVisitor, visitor_id)
        if visitor is None or visitor.follow_up_email is None:
            return
        visitor.follow_up_email = None
        tx.audit(None, "chat.follow_up_ended", "inbox", visitor.inbox_id, visitor_id=visitor.id)


async def queue_chat_follow_up(
    tx: Transaction, rt: Runtime, conv: Conversation, message: Message
) -> None:
    """In a chat reply's transaction: while its visitor asked for replies by email,
    queue this one as an email from the chat inbox's follow-up email inbox.

    Its Message-ID carries this conversation's reply token, so the customer's
    answer by email threads back into this same chat conversation
    (inbox.actions.email_threads). The reply reaches the widget regardless.
    """
    inbox = await tx.session.get(Inbox, conv.inbox_id)
    config = chat_config(inbox) if inbox is not None else None
    if config is None:
        return
    address = await follow_up_address(tx.session, conv.inbox_id, [conv.customer_id])
    if address is None:
        # Nothing more to send: the reply is in the chat, where the widget
        # shows it at once or on the visitor's return.
        message.delivery = Delivery.SENT
        return
    sender = await tx.session.get(Inbox, config.email_inbox_id) if config.email_inbox_id else None
    settings = email_config(sender.config) if sender is not None else None
    if sender is None or settings is None:
        message.delivery_error = "no email inbox is set up for this chat's email follow-up"
        return
    await queue_email(tx, rt, sender, settings, conv, message, to=address)
