"""Customers: the shared profile and the timeline across every channel."""

from __future__ import annotations

from inbox.access import get_visible_customer
from inbox.actions.customer_merge import do_merge_customers, do_unmerge_customer
from inbox.profiles.duplicates import likely_duplicates
from inbox.queries import customer_profile, customer_timeline

from .reads import decode_cursor
from .registry import Call, Endpoint
from .schemas import (
    MAX_BIG_ID,
    CustomerDetailOut,
    CustomerResultOut,
    DuplicateOut,
    DuplicateReasonOut,
    DuplicatesOut,
    EmptyIn,
    MergeIn,
    TimelineOut,
    TimelineQuery,
)
from .serialise import customer_out, timeline_entry_out

TAG = "customers"
FIRST_PAGE = 50


async def get_customer(call: Call) -> CustomerDetailOut:
    """The profile and the newest timeline entries.

    The timeline holds only messages from inboxes the agent may see; fetch
    older entries with `earlier_cursor`.
    """
    customer_id = call.path_id("customer")
    async with call.rt.read_sessions() as db:
        profile = await customer_profile(db, call.agent, customer_id)
        timeline = await customer_timeline(db, call.agent, customer_id, limit=FIRST_PAGE)
    return CustomerDetailOut(
        customer=customer_out(profile.customer),
        timeline=[timeline_entry_out(e) for e in timeline.entries],
        earlier_cursor=timeline.earlier_cursor,
    )


async def get_customer_timeline(call: Call) -> TimelineOut:
    """A page of the customer's timeline, oldest first, ending just before `before`."""
    customer_id = call.path_id("customer")
    q = call.query_as(TimelineQuery)
    before = decode_cursor(q.before, MAX_BIG_ID)
    async with call.rt.read_sessions() as db:
        timeline = await customer_timeline(
            db, call.agent, customer_id, before=before, limit=q.limit
        )
    return TimelineOut(
        entries=[timeline_entry_out(e) for e in timeline.entries],
        earlier_cursor=timeline.earlier_cursor,
    )


async def _result(call: Call, customer_id: int) -> CustomerResultOut:
    async with call.rt.read_sessions() as db:
        profile = await customer_profile(db, call.agent, customer_id)
    return CustomerResultOut(customer=customer_out(profile.customer))


async def merge_customer(call: Call) -> CustomerResultOut:
    """Merge customer `merge_id` into this one: its conversations, messages and identities
    move here, its tags and missing attributes are added (this customer's attributes win).

    `versions` are the customers' `version`s you saw; if either changed since, `409`.
    `400` with the reason for a customer into itself, an already merged customer, or
    conflicting identities (both have a verified id of the same chat or messaging
    channel). Undo it with `POST /customers/{merge_id}/unmerge`.
    """
    keep_id = call.path_id("customer")
    body = call.body_as(MergeIn)
    await do_merge_customers(
        call.rt,
        call.agent,
        keep_id=keep_id,
        merge_id=body.merge_id,
        expected_versions={keep_id: body.versions.keep, body.merge_id: body.versions.merge},
    )
    return await _result(call, keep_id)


async def unmerge_customer(call: Call) -> CustomerResultOut:
    """Undo the merge of this (merged) customer: what moved goes back, exactly.

    `400` if it is not merged; `409` if the customer it went into has since been merged
    elsewhere, or if rows that moved no longer exist or moved on (the message says which).
    """
    customer_id = call.path_id("customer")
    await do_unmerge_customer(call.rt, call.agent, merged_id=customer_id)
    return await _result(call, customer_id)


async def get_customer_duplicates(call: Call) -> DuplicatesOut:
    """Customers you may see who are likely the same person, each with why.

    Same phone number or email address (in any identity that carries one; an email's
    `+tag` is ignored), or the same name with an email at the same, not free-mail, domain.
    """
    customer_id = call.path_id("customer")
    async with call.rt.read_sessions() as db:
        await get_visible_customer(db, call.agent, customer_id)
        suggestions = await likely_duplicates(db, customer_id, viewer=call.agent)
        for s in suggestions:
            await db.refresh(s.customer, ["identities", "tags"])
        return DuplicatesOut(
            duplicates=[
                DuplicateOut(
                    customer=customer_out(s.customer),
                    reasons=[
                        DuplicateReasonOut(rule=r.rule, value=r.value, text=r.text)
                        for r in s.reasons
                    ],
                )
                for s in suggestions
            ]
        )


ENDPOINTS = [
    Endpoint(
        "GET",
        "/customers/{id:int}",
        "A customer's profile and recent timeline",
        get_customer,
        CustomerDetailOut,
        tag=TAG,
    ),
    Endpoint(
        "GET",
        "/customers/{id:int}/timeline",
        "Older timeline entries",
        get_customer_timeline,
        TimelineOut,
        tag=TAG,
        query=TimelineQuery,
        errors=(400,),
    ),
    Endpoint(
        "GET",
        "/customers/{id:int}/duplicates",
        "Likely duplicates of a customer",
        get_customer_duplicates,
        DuplicatesOut,
        tag=TAG,
    ),
    Endpoint(
        "POST",
        "/customers/{id:int}/merge",
        "Merge another customer into this one",
        merge_customer,
        CustomerResultOut,
        tag=TAG,
        body=MergeIn,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        "/customers/{id:int}/unmerge",
        "Undo the merge of this customer",
        unmerge_customer,
        CustomerResultOut,
        tag=TAG,
        body=EmptyIn,
        errors=(409,),
    ),
]
