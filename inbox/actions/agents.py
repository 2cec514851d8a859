"""Agents and teams: creating, deactivating, tokens, membership."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update

from inbox.access import admin_audience
from inbox.auth import hash_password, new_api_token
from inbox.errors import BadRequest, Conflict, Forbidden, NotFound
from inbox.events import AgentDeactivated, Audience
from inbox.models import Agent, Role, Team, TeamMember
from inbox.runtime import Runtime

from .transaction import transaction

MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class CreatedAgent:
    agent: Agent
    api_token: str


def check_admin(actor: Agent | None) -> None:
    """Only admins manage people and inboxes; `None` is the operator's CLI."""
    if actor is not None and not actor.is_admin:
        raise Forbidden("only an admin may do this")


async def do_create_agent(
    rt: Runtime,
    actor: Agent | None,
    *,
    email: str,
    name: str,
    role: Role = Role.AGENT,
    password: str | None = None,
) -> CreatedAgent:
    check_admin(actor)
    email = email.strip()
    if "@" not in email or len(email) > 320:
        raise BadRequest("a valid email address is required")
    if not name.strip():
        raise BadRequest("a name is required")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    token, token_digest = new_api_token()
    async with transaction(rt) as tx:
        taken = await tx.session.scalar(
            select(Agent.id).where(func.lower(Agent.email) == email.lower())
        )
        if taken is not None:
            raise Conflict(f"an agent with email {email} already exists")
        agent = Agent(
            email=email,
            name=name.strip(),
            role=role,
            password_hash=hash_password(password) if password else None,
            api_token_hash=token_digest,
        )
        tx.session.add(agent)
        await tx.session.flush()
        tx.audit(actor, "agent.created", "agent", agent.id, email=email, role=role.value)
    return CreatedAgent(agent, token)


async def do_deactivate_agent(rt: Runtime, actor: Agent | None, agent_id: int) -> None:
    """Cut the agent off at once: sessions and token stop working on the next request."""
    check_admin(actor)
    async with transaction(rt) as tx:
        result = await tx.session.execute(
            update(Agent)
            .where(Agent.id == agent_id)
            .values(is_active=False, session_version=Agent.session_version + 1)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("agent not found")
        tx.audit(actor, "agent.deactivated", "agent", agent_id)
        admins = await admin_audience(tx.session)
        # The agent themself is told so their open sockets can close.
        tx.emit(AgentDeactivated(agent_id=agent_id), Audience(admins | {agent_id}))


async def do_rotate_api_token(rt: Runtime, actor: Agent | None, agent_id: int) -> str:
    if actor is not None and actor.id != agent_id:
        check_admin(actor)
    token, token_digest = new_api_token()
    async with transaction(rt) as tx:
        result = await tx.session.execute(
            update(Agent).where(Agent.id == agent_id).values(api_token_hash=token_digest)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("agent not found")
        tx.audit(actor, "agent.token_rotated", "agent", agent_id)
    return token


async def do_create_team(
    rt: Runtime, actor: Agent | None, *, name: str, member_ids: list[int]
) -> Team:
    check_admin(actor)
    if not name.strip():
        raise BadRequest("a team name is required")
    async with transaction(rt) as tx:
        if await tx.session.scalar(select(Team.id).where(Team.name == name.strip())):
            raise Conflict(f"a team named {name!r} already exists")
        team = Team(name=name.strip())
        tx.session.add(team)
        await tx.session.flush()
        found = set(
            (await tx.session.scalars(select(Agent.id).where(Agent.id.in_(member_ids)))).all()
        )
        if missing := set(member_ids) - found:
            raise NotFound(f"no agent with id {sorted(missing)[0]}")
        tx.session.add_all(TeamMember(team_id=team.id, agent_id=a) for a in sorted(found))
        tx.audit(actor, "team.created", "team", team.id, name=team.name, members=sorted(found))
    return team


async def do_set_password(
    rt: Runtime, actor: Agent | None, agent_id: int, new_password: str
) -> None:
    """Set a password and end every existing session of that agent."""
    if actor is not None and actor.id != agent_id:
        check_admin(actor)
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    async with transaction(rt) as tx:
        result = await tx.session.execute(
            update(Agent)
            .where(Agent.id == agent_id)
            .values(
                password_hash=hash_password(new_password),
                session_version=Agent.session_version + 1,
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("agent not found")
        tx.audit(actor, "agent.password_set", "agent", agent_id)
