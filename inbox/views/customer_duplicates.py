"""The customer page's merge panel: possible duplicates, or where a merged customer went."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import get_visible_customer
from inbox.errors import NotFound
from inbox.models import Agent, Customer
from inbox.profiles.duplicates import Suggestion, likely_duplicates


@dataclass(frozen=True)
class MergePanel:
    customer: Customer
    # Set on a merged customer's page, when the agent may see where it went.
    merged_into: Customer | None
    duplicates: list[Suggestion]
    merge_url: str
    unmerge_url: str


async def load_merge_panel(db: AsyncSession, agent: Agent, customer: Customer) -> MergePanel:
    merged_into = None
    duplicates: list[Suggestion] = []
    if customer.merged_into_id is not None:
        try:
            merged_into = await get_visible_customer(db, agent, customer.merged_into_id)
        except NotFound:
            merged_into = None
    else:
        duplicates = await likely_duplicates(db, customer.id, viewer=agent)
    return MergePanel(
        customer=customer,
        merged_into=merged_into,
        duplicates=duplicates,
        merge_url=f"/customers/{customer.id}/merge",
        unmerge_url=f"/customers/{customer.id}/unmerge",
    )
