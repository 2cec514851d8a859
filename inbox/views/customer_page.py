"""`GET /customers/{id}` (profile and whole timeline) and notes on the customer."""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.access import get_visible_customer, visible_inbox_ids
from inbox.actions.customer_merge import do_merge_customers, do_unmerge_customer
from inbox.actions.customers import do_add_customer_note
from inbox.models import Agent
from inbox.views.conversation_page import TimelinePage, before_cursor, load_timeline
from inbox.views.customer_duplicates import load_merge_panel
from inbox.views.customer_panel import load_panel
from inbox.views.forms import form_int, form_text
from inbox.views.fragments import vary_on_htmx, wants_fragment
from inbox.views.requests import path_int, require_agent, runtime
from inbox.views.templating import is_htmx, render

# A plain form says where to go back to; only these pages, so it can't redirect off-site.
_BACK = re.compile(r"/(conversations|customers)/\d+")


def safe_back(back: object) -> str | None:
    """The page a plain form says to go back to, if it is one of ours."""
    return back if isinstance(back, str) and _BACK.fullmatch(back) else None


async def customer_page(request: Request) -> Response:
    agent = require_agent(request)
    customer_id = path_int(request, "customer_id")
    before = before_cursor(request)
    url = f"/customers/{customer_id}"
    async with runtime(request).read_sessions() as db:
        await get_visible_customer(db, agent, customer_id)
        timeline = await load_timeline(
            db, agent, customer_id, base_url=url, current_id=None, before=before
        )
        if before is not None and wants_fragment(request):
            response = render(request, "_timeline_page.html", timeline=timeline)
        else:
            response = await render_customer_page(request, db, agent, customer_id, timeline)
    return vary_on_htmx(response)


async def render_customer_page(
    request: Request, db: AsyncSession, agent: Agent, customer_id: int, timeline: TimelinePage
) -> Response:
    """The whole customer page; the caller has checked the agent may see the customer."""
    panel = await load_panel(db, agent, customer_id, current_id=None)
    presence = runtime(request).hub.presence.on_customer(
        customer_id, agent.id, await visible_inbox_ids(db, agent)
    )
    return render(
        request,
        "customer.html",
        agent=agent,
        panel=panel,
        timeline=timeline,
        presence=presence,
        merge=await load_merge_panel(db, agent, panel.customer),
    )


async def add_note(request: Request) -> Response:
    agent = require_agent(request)
    customer_id = path_int(request, "customer_id")
    async with request.form() as form:
        body = form_text(form, "body")
        back = form.get("back")
    await do_add_customer_note(runtime(request), agent, customer_id, body)
    back_url = safe_back(back) or f"/customers/{customer_id}"
    if not is_htmx(request):
        return RedirectResponse(back_url, 303)
    async with runtime(request).read_sessions() as db:
        panel = await load_panel(db, agent, customer_id, current_id=None)
    return render(request, "_customer_notes_changed.html", panel=replace(panel, back_url=back_url))


async def merge_customer(request: Request) -> Response:
    """Merge the customer named in the form into the one on this page."""
    agent = require_agent(request)
    customer_id = path_int(request, "customer_id")
    async with request.form() as form:
        merge_id = form_int(form, "merge_id")
        versions = {
            customer_id: form_int(form, "keep_version"),
            merge_id: form_int(form, "merge_version"),
        }
    await do_merge_customers(
        runtime(request), agent, keep_id=customer_id, merge_id=merge_id, expected_versions=versions
    )
    return await _after_merge(request, agent, customer_id)


async def unmerge_customer(request: Request) -> Response:
    agent = require_agent(request)
    customer_id = path_int(request, "customer_id")
    await do_unmerge_customer(runtime(request), agent, merged_id=customer_id)
    return await _after_merge(request, agent, customer_id)


async def _after_merge(request: Request, agent: Agent, customer_id: int) -> Response:
    url = f"/customers/{customer_id}"
    if not is_htmx(request):
        return RedirectResponse(url, 303)
    async with runtime(request).read_sessions() as db:
        timeline = await load_timeline(
            db, agent, customer_id, base_url=url, current_id=None, before=None
        )
        # The page's `hx-select` takes the part it shows from the whole page.
        return await render_customer_page(request, db, agent, customer_id, timeline)


routes = [
    Route("/customers/{customer_id:int}", customer_page, methods=["GET"]),
    Route("/customers/{customer_id:int}/notes", add_note, methods=["POST"]),
    Route("/customers/{customer_id:int}/merge", merge_customer, methods=["POST"]),
    Route("/customers/{customer_id:int}/unmerge", unmerge_customer, methods=["POST"]),
]
