"""`GET /customers/{id}` (profile and whole timeline) and notes on the customer."""

from __future__ import annotations

import re
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.access import get_visible_customer, visible_inbox_ids
from inbox.actions.customers import do_add_customer_note
from inbox.views.conversation_page import before_cursor, load_timeline
from inbox.views.customer_panel import load_panel
from inbox.views.forms import form_text
from inbox.views.fragments import vary_on_htmx, wants_fragment
from inbox.views.requests import path_int, require_agent, runtime
from inbox.views.templating import is_htmx, render

# A plain form says where to go back to; only these pages, so it can't redirect off-site.
_BACK = re.compile(r"/(conversations|customers)/\d+")


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
            panel = await load_panel(db, agent, customer_id, current_id=None)
            presence = runtime(request).hub.presence.on_customer(
                customer_id, agent.id, await visible_inbox_ids(db, agent)
            )
            response = render(
                request,
                "customer.html",
                agent=agent,
                panel=panel,
                timeline=timeline,
                presence=presence,
            )
    return vary_on_htmx(response)


async def add_note(request: Request) -> Response:
    agent = require_agent(request)
    customer_id = path_int(request, "customer_id")
    async with request.form() as form:
        body = form_text(form, "body")
        back = form.get("back")
    await do_add_customer_note(runtime(request), agent, customer_id, body)
    back_url = back if isinstance(back, str) and _BACK.fullmatch(back) else None
    back_url = back_url or f"/customers/{customer_id}"
    if not is_htmx(request):
        return RedirectResponse(back_url, 303)
    async with runtime(request).read_sessions() as db:
        panel = await load_panel(db, agent, customer_id, current_id=None)
    return render(request, "_customer_notes_changed.html", panel=replace(panel, back_url=back_url))


routes = [
    Route("/customers/{customer_id:int}", customer_page, methods=["GET"]),
    Route("/customers/{customer_id:int}/notes", add_note, methods=["POST"]),
]
