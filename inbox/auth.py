"""Passwords, API tokens and the agent behind a request."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Agent

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a login takes as long
# whether or not the account exists.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

TOKEN_PREFIX = "inb_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_api_token() -> tuple[str, str]:
    """A fresh token and the hash to store. The token is shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    # Tokens are long and random, so a fast hash is enough and keeps
    # per-request authentication cheap.
    return hashlib.sha256(token.encode()).hexdigest()


async def authenticate_password(session: AsyncSession, email: str, password: str) -> Agent | None:
    agent = await session.scalar(select(Agent).where(func.lower(Agent.email) == email.lower()))
    if agent is None or agent.password_hash is None:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(agent.password_hash, password) or not agent.is_active:
        return None
    return agent


async def authenticate_token(session: AsyncSession, token: str) -> Agent | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    agent = await session.scalar(select(Agent).where(Agent.api_token_hash == token_hash(token)))
    if agent is None or not agent.is_active:
        return None
    return agent


async def agent_for_session(
    session: AsyncSession, agent_id: object, session_version: object
) -> Agent | None:
    """The agent a session cookie names, if that session is still valid."""
    if not isinstance(agent_id, int) or not isinstance(session_version, int):
        return None
    agent = await session.get(Agent, agent_id)
    if agent is None or not agent.is_active or agent.session_version != session_version:
        return None
    return agent


@dataclass(frozen=True)
class Credential:
    """What an open socket signed in with, to check again while it stays open."""

    agent_id: int
    session_version: int | None = None  # a session cookie's
    token_hash: str | None = None  # a bearer token's


async def still_valid(
    session: AsyncSession, credentials: Collection[Credential]
) -> set[Credential]:
    """Those of `credentials` that would still sign in now, in one query for all of them.

    A sign-out elsewhere or a password change bumps the session version, a
    rotated token changes the hash, and a deactivated agent has neither.
    """
    ids = sorted({c.agent_id for c in credentials})
    if not ids:
        return set()
    rows = await session.execute(
        select(Agent.id, Agent.is_active, Agent.session_version, Agent.api_token_hash).where(
            Agent.id.in_(ids)
        )
    )
    current = {row.id: row for row in rows}
    valid = set()
    for credential in credentials:
        row = current.get(credential.agent_id)
        if row is None or not row.is_active:
            continue
        if credential.token_hash is not None:
            if credential.token_hash == row.api_token_hash:
                valid.add(credential)
        elif credential.session_version == row.session_version:
            valid.add(credential)
    return valid
