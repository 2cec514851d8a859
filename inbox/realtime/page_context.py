"""What page a browser socket serves, so it is sent only what that page shows.

The page puts its context in the socket URL (`ws-connect`), next to the
outbox position it was rendered at:

    /ws?page=list&view=mine&status=open&inbox=3&since=120
    /ws?page=conversation&conversation=42&since=120
    /ws?page=customer&customer=7&since=120
    /ws?page=board&since=120                   (leads and admins)

Parsing is strict, like the pages' own query strings: anything unknown is
refused, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from inbox.access import get_visible_conversation, get_visible_customer
from inbox.errors import BadRequest, NotFound
from inbox.models import Agent
from inbox.queries_board import require_lead
from inbox.views.inbox_list import Filters, parse_filters


@dataclass(frozen=True)
class ListContext:
    filters: Filters


@dataclass(frozen=True)
class ConversationContext:
    conversation_id: int
    customer_id: int  # the timeline and profile shown are this customer's


@dataclass(frozen=True)
class CustomerContext:
    customer_id: int


@dataclass(frozen=True)
class BoardContext:
    """The team lead's board: it reloads its summary when work or presence changes."""


PageContext = ListContext | ConversationContext | CustomerContext | BoardContext


@dataclass(frozen=True)
class PageRequest:
    """The context as the URL states it, before access is checked."""

    page: str
    filters: Filters | None = None
    object_id: int | None = None


def parse_page(query: QueryParams) -> PageRequest:
    page = query.get("page") or ""
    if page == "list":
        filters, _ = parse_filters(query)
        return PageRequest(page, filters=filters)
    if page in ("conversation", "customer"):
        raw = query.get(page) or ""
        if not raw.isdigit() or len(raw) > 18:
            raise BadRequest(f"{page} must be an id")
        return PageRequest(page, object_id=int(raw))
    if page == "board":
        return PageRequest(page)
    raise BadRequest("page must be one of: list, conversation, customer, board")


async def resolve_page(db: AsyncSession, agent: Agent, request: PageRequest) -> PageContext:
    """The context, once the agent is known to see what it names (NotFound otherwise)."""
    if request.filters is not None:
        return ListContext(request.filters)
    if request.page == "board":
        require_lead(agent)
        return BoardContext()
    assert request.object_id is not None
    if request.page == "conversation":
        conv = await get_visible_conversation(db, agent, request.object_id)
        return ConversationContext(conv.id, conv.customer_id)
    if request.page == "customer":
        customer = await get_visible_customer(db, agent, request.object_id)
        return CustomerContext(customer.id)
    raise NotFound("unknown page")
