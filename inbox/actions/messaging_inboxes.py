"""Messaging inboxes (Telegram, WhatsApp, Messenger, Instagram, SMS, API):
created and changed from a validated input (`inbox.channels.messaging_settings`),
whether it came from the API or the admin pages.

Secrets are audited by name only ("replaced"), never by value.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import inbox_audience
from inbox.channels.messaging_settings import (
    CONFIG_FIELDS,
    INPUTS,
    MessagingInboxIn,
    stored_config,
    stored_secrets,
)
from inbox.errors import BadRequest, NotFound
from inbox.events import Audience, InboxAccessChanged
from inbox.models import Agent, ChannelKind, Inbox, InboxTeamAccess, Team
from inbox.runtime import Runtime

from .agents import check_admin
from .inboxes import do_create_inbox
from .transaction import transaction


def _check_input(channel: ChannelKind, body: MessagingInboxIn) -> None:
    if INPUTS.get(channel) is not type(body):
        raise BadRequest(f"these are not the settings of a {channel.value} inbox")


async def do_create_messaging_inbox(
    rt: Runtime, actor: Agent | None, channel: ChannelKind, body: MessagingInboxIn
) -> Inbox:
    _check_input(channel, body)
    return await do_create_inbox(
        rt,
        actor,
        name=body.name,
        channel=channel,
        config=stored_config(body),
        secrets=stored_secrets(body),
        team_ids=list(body.team_ids),
    )


async def do_update_messaging_inbox(
    rt: Runtime,
    actor: Agent | None,
    inbox_id: int,
    body: MessagingInboxIn,
    replaced: Collection[str],
) -> Inbox:
    """New settings for the inbox: its name, teams and non-secret settings as in
    `body`; of its secrets, only those named in `replaced` are overwritten."""
    check_admin(actor)
    given = stored_secrets(body)
    unknown = set(replaced) - set(given)
    if unknown:
        raise BadRequest(f"no new value given for: {', '.join(sorted(unknown))}")
    async with transaction(rt) as tx:
        inbox = await tx.session.get(Inbox, inbox_id)
        if inbox is None or inbox.channel not in INPUTS:
            raise NotFound("no messaging inbox with this id")
        _check_input(inbox.channel, body)
        before = await inbox_audience(tx.session, inbox_id)
        config = stored_config(body)
        kept = {k: v for k, v in inbox.config.items() if k not in CONFIG_FIELDS}
        changed = sorted(
            name for name in CONFIG_FIELDS if inbox.config.get(name) != config.get(name)
        )
        if inbox.name != body.name.strip():
            changed.insert(0, "name")
        inbox.name = body.name.strip()
        inbox.config = {**kept, **config}
        inbox.secrets = {**inbox.secrets, **{name: given[name] for name in replaced}}
        teams = await _set_teams(tx.session, inbox_id, set(body.team_ids))
        tx.audit(
            actor,
            "inbox.messaging_settings_changed",
            "inbox",
            inbox_id,
            changed=changed,
            team_ids=sorted(teams),
            secrets_replaced=sorted(replaced),
        )
        await tx.session.flush()
        after = await inbox_audience(tx.session, inbox_id)
        # Who lost access hears of it too, so their inbox list drops it.
        tx.emit(InboxAccessChanged(inbox_id=inbox_id), Audience(before | after))
    return inbox


async def _set_teams(session: AsyncSession, inbox_id: int, wanted: set[int]) -> set[int]:
    """Exactly the teams `wanted` see the inbox."""
    for team_id in sorted(wanted):
        if await session.get(Team, team_id) is None:
            raise NotFound(f"no team with id {team_id}")
    current = set(
        (
            await session.scalars(
                select(InboxTeamAccess.team_id).where(InboxTeamAccess.inbox_id == inbox_id)
            )
        ).all()
    )
    if current - wanted:
        await session.execute(
            delete(InboxTeamAccess).where(
                InboxTeamAccess.inbox_id == inbox_id,
                InboxTeamAccess.team_id.in_(current - wanted),
            )
        )
    for team_id in sorted(wanted - current):
        session.add(InboxTeamAccess(inbox_id=inbox_id, team_id=team_id))
    return wanted
