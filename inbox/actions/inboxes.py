"""Inboxes and who may see them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from inbox.access import inbox_audience
from inbox.channels.email.settings import (
    EmailConfig,
    EmailSecrets,
    email_config,
    merged_secrets,
    stamp_acknowledgement,
)
from inbox.errors import BadRequest, NotFound
from inbox.events import Audience, InboxAccessChanged
from inbox.models import (
    Agent,
    ChannelKind,
    Inbox,
    InboxAgentAccess,
    InboxTeamAccess,
    Team,
    utcnow,
)
from inbox.runtime import Runtime

from .agents import check_admin
from .transaction import transaction


async def do_create_inbox(
    rt: Runtime,
    actor: Agent | None,
    *,
    name: str,
    channel: ChannelKind,
    config: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    team_ids: list[int] | None = None,
    agent_ids: list[int] | None = None,
) -> Inbox:
    check_admin(actor)
    if not name.strip():
        raise BadRequest("an inbox name is required")
    async with transaction(rt) as tx:
        inbox = Inbox(
            name=name.strip(), channel=channel, config=config or {}, secrets=secrets or {}
        )
        tx.session.add(inbox)
        await tx.session.flush()
        for team_id in team_ids or []:
            if await tx.session.get(Team, team_id) is None:
                raise NotFound(f"no team with id {team_id}")
            tx.session.add(InboxTeamAccess(inbox_id=inbox.id, team_id=team_id))
        for agent_id in agent_ids or []:
            if await tx.session.get(Agent, agent_id) is None:
                raise NotFound(f"no agent with id {agent_id}")
            tx.session.add(InboxAgentAccess(inbox_id=inbox.id, agent_id=agent_id))
        await tx.session.flush()
        # Secrets are never written to the audit log.
        tx.audit(actor, "inbox.created", "inbox", inbox.id, name=inbox.name, channel=channel.value)
        tx.emit(
            InboxAccessChanged(inbox_id=inbox.id),
            Audience(await inbox_audience(tx.session, inbox.id)),
        )
    return inbox


async def do_grant_inbox_access(
    rt: Runtime,
    actor: Agent | None,
    inbox_id: int,
    *,
    team_id: int | None = None,
    agent_id: int | None = None,
) -> None:
    check_admin(actor)
    if (team_id is None) == (agent_id is None):
        raise BadRequest("grant to exactly one of a team or an agent")
    async with transaction(rt) as tx:
        if await tx.session.get(Inbox, inbox_id) is None:
            raise NotFound("inbox not found")
        if team_id is not None:
            if await tx.session.get(Team, team_id) is None:
                raise NotFound(f"no team with id {team_id}")
            existing = await tx.session.get(InboxTeamAccess, (inbox_id, team_id))
            if existing is None:
                tx.session.add(InboxTeamAccess(inbox_id=inbox_id, team_id=team_id))
        else:
            if await tx.session.get(Agent, agent_id) is None:
                raise NotFound(f"no agent with id {agent_id}")
            existing_a = await tx.session.scalar(
                select(InboxAgentAccess).where(
                    InboxAgentAccess.inbox_id == inbox_id, InboxAgentAccess.agent_id == agent_id
                )
            )
            if existing_a is None:
                tx.session.add(InboxAgentAccess(inbox_id=inbox_id, agent_id=agent_id))
        await tx.session.flush()
        tx.audit(
            actor, "inbox.access_granted", "inbox", inbox_id, team_id=team_id, agent_id=agent_id
        )
        tx.emit(
            InboxAccessChanged(inbox_id=inbox_id),
            Audience(await inbox_audience(tx.session, inbox_id)),
        )


async def do_create_email_inbox(
    rt: Runtime,
    actor: Agent | None,
    *,
    name: str,
    config: EmailConfig,
    secrets: EmailSecrets,
    team_ids: list[int] | None = None,
) -> Inbox:
    """An email inbox: its servers in `config`, its passwords only in `secrets`."""
    if not secrets.imap_password:
        raise BadRequest("imap_password: the IMAP password is required")
    return await do_create_inbox(
        rt,
        actor,
        name=name,
        channel=ChannelKind.EMAIL,
        config=stamp_acknowledgement(config, None, utcnow()).model_dump(mode="json"),
        secrets=merged_secrets({}, secrets),
        team_ids=team_ids,
    )


async def do_update_email_settings(
    rt: Runtime, actor: Agent | None, inbox_id: int, config: EmailConfig, secrets: EmailSecrets
) -> Inbox:
    """New server settings; a blank password keeps the stored one.

    The worker picks the change up when it next restarts the inbox's
    connector; nothing about the passwords is audited beyond "changed".
    """
    check_admin(actor)
    async with transaction(rt) as tx:
        inbox = await tx.session.get(Inbox, inbox_id)
        if inbox is None or inbox.channel is not ChannelKind.EMAIL:
            raise NotFound("no email inbox with this id")
        stored = email_config(inbox.config)
        inbox.config = stamp_acknowledgement(config, stored, utcnow()).model_dump(mode="json")
        changed = sorted(name for name, value in secrets.model_dump().items() if value)
        inbox.secrets = merged_secrets(inbox.secrets, secrets)
        tx.audit(actor, "inbox.email_settings_changed", "inbox", inbox_id, passwords=changed)
    return inbox


async def do_set_inbox_active(
    rt: Runtime, actor: Agent | None, inbox_id: int, active: bool
) -> Inbox:
    """Deactivate an inbox (its webhooks answer as if it didn't exist, replies
    from it are refused, and the worker stops its connector at its next scan,
    within `inbox.worker.RESCAN_SECONDS`) or bring it back; its conversations stay."""
    check_admin(actor)
    async with transaction(rt) as tx:
        inbox = await tx.session.get(Inbox, inbox_id)
        if inbox is None:
            raise NotFound("inbox not found")
        if inbox.is_active is active:
            return inbox
        inbox.is_active = active
        action = "inbox.reactivated" if active else "inbox.deactivated"
        tx.audit(actor, action, "inbox", inbox_id)
        tx.emit(
            InboxAccessChanged(inbox_id=inbox_id),
            Audience(await inbox_audience(tx.session, inbox_id)),
        )
    return inbox
