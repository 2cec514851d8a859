"""Editing the profile from the customer and conversation pages.

`POST /customers/{id}/profile` saves the edit form (name, typed fields, new
tags); `POST /customers/{id}/profile/tags` removes (or adds) a tag from its
chip. Both send the version the page showed. A stale one answers 409 with the
current profile and a clear message; a bad value answers 400 with the form
as typed and the reason. Nothing is ever saved over a colleague's change.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.actions.customer_profile import StaleProfile, do_edit_customer
from inbox.errors import BadRequest
from inbox.models import Agent
from inbox.profiles.fields import defined_fields
from inbox.views.customer_page import safe_back
from inbox.views.customer_panel import ProfilePanel, load_panel
from inbox.views.forms import form_int
from inbox.views.profile_form import ATTR_PREFIX, edit_form
from inbox.views.requests import path_int, require_agent, runtime
from inbox.views.templating import is_htmx, render

STALE = (
    "Someone else changed this profile after you opened it, so nothing was saved. "
    "The current values are shown; make your change again if it still applies."
)


def _back(form: FormData, customer_id: int) -> str:
    return safe_back(form.get("back")) or f"/customers/{customer_id}"


def _tags(text: str) -> list[str]:
    return [t for t in (p.strip() for p in text.split(",")) if t]


def _typed(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


async def _panel(request: Request, agent: Agent, customer_id: int, back: str) -> ProfilePanel:
    async with runtime(request).read_sessions() as db:
        panel = await load_panel(db, agent, customer_id, current_id=None)
    return replace(panel, back_url=back)


async def edit_profile(request: Request) -> Response:
    agent = require_agent(request)
    customer_id = path_int(request, "customer_id")
    async with request.form() as form:
        version = form_int(form, "version")
        typed = _typed(form)
        back = _back(form, customer_id)
    name = typed.get("name")
    attributes = {k[len(ATTR_PREFIX) :]: v for k, v in typed.items() if k.startswith(ATTR_PREFIX)}
    try:
        await do_edit_customer(
            runtime(request),
            agent,
            customer_id,
            version=version,
            name=name,
            attributes=attributes,
            add_tags=_tags(typed.get("add_tags", "")),
            from_form=True,
        )
    except StaleProfile:
        if not is_htmx(request):
            raise
        return await _edit_answer(request, agent, customer_id, back, typed, STALE, "stale", 409)
    except BadRequest as exc:
        if not is_htmx(request):
            raise
        return await _edit_answer(
            request, agent, customer_id, back, typed, exc.message, "error", 400
        )
    if not is_htmx(request):
        return RedirectResponse(back, 303)
    return await _edit_answer(request, agent, customer_id, back, {}, "", "", 200)


async def _edit_answer(
    request: Request,
    agent: Agent,
    customer_id: int,
    back: str,
    typed: dict[str, str],
    message: str,
    level: str,
    status: int,
) -> Response:
    """The edit form (refused: with the message and what was typed) and, out of band,
    the profile as it stands."""
    panel = await _panel(request, agent, customer_id, back)
    async with runtime(request).read_sessions() as db:
        fields = list((await defined_fields(db)).values())
    form = edit_form(panel.customer, fields, typed=typed, message=message, level=level)
    if level == "error":
        # Nothing was saved: the form goes on from the version the agent had.
        form = replace(form, version=int(typed["version"]))
    return render(
        request, "_profile_edited.html", status_code=status, panel=replace(panel, edit=form)
    )


async def change_tag(request: Request) -> Response:
    agent = require_agent(request)
    customer_id = path_int(request, "customer_id")
    async with request.form() as form:
        version = form_int(form, "version")
        typed = _typed(form)
        back = _back(form, customer_id)
    notice, status = "", 200
    try:
        await do_edit_customer(
            runtime(request),
            agent,
            customer_id,
            version=version,
            add_tags=_tags(typed.get("add", "")),
            remove_tags=_tags(typed.get("remove", "")),
        )
    except StaleProfile:
        if not is_htmx(request):
            raise
        notice, status = STALE, 409
    if not is_htmx(request):
        return RedirectResponse(back, 303)
    panel = await _panel(request, agent, customer_id, back)
    return render(
        request,
        "fragments/profile_details.html",
        status_code=status,
        panel=panel,
        notice=notice,
        notice_level="stale",
    )


routes = [
    Route("/customers/{customer_id:int}/profile", edit_profile, methods=["POST"]),
    Route("/customers/{customer_id:int}/profile/tags", change_tag, methods=["POST"]),
]
