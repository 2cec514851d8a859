"""Getting the runtime and the signed-in agent out of a request."""

from __future__ import annotations

from typing import Any, cast

from starlette.requests import HTTPConnection

from inbox.errors import BadRequest, NotAuthenticated
from inbox.models import Agent
from inbox.runtime import Runtime


def runtime(conn: HTTPConnection) -> Runtime:
    return cast(Runtime, conn.app.state.runtime)


def current_agent(conn: HTTPConnection) -> Agent | None:
    return cast(Agent | None, conn.scope.get("state", {}).get("agent"))


def require_agent(conn: HTTPConnection) -> Agent:
    agent = current_agent(conn)
    if agent is None:
        if conn.scope.get("state", {}).get("auth_via") == "token":
            raise NotAuthenticated("invalid or revoked API token")
        raise NotAuthenticated("sign in first")
    return agent


def path_int(conn: HTTPConnection, name: str) -> int:
    value: Any = conn.path_params.get(name)
    if isinstance(value, int):
        return value
    raise BadRequest(f"{name} must be an integer")


def query_int(conn: HTTPConnection, name: str, default: int, lo: int, hi: int) -> int:
    raw = conn.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer") from exc
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}")
    return value
