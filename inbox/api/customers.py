"""Customers: the shared profile and the timeline across every channel."""

from __future__ import annotations

from inbox.queries import customer_profile, customer_timeline

from .reads import decode_cursor
from .registry import Call, Endpoint
from .schemas import MAX_BIG_ID, CustomerDetailOut, TimelineOut, TimelineQuery
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
]
