"""Held emails, for admins: reprocess one, dismiss it, or download its raw bytes.

The buttons sit in the quarantine table of the email inbox's page, which
comes back with the outcome. The raw download is always an attachment of an
inert type: a held message is exactly the kind of input not to render.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from inbox.actions.quarantine import do_dismiss_quarantined, do_reprocess_quarantined
from inbox.errors import NotFound
from inbox.models import QuarantinedMail
from inbox.views.admin_inboxes import admin, email_inbox, settings_page
from inbox.views.attachments import ATTACHMENT_CSP, OCTET_STREAM, content_disposition
from inbox.views.ids import path_id
from inbox.views.requests import runtime


async def _held(request: Request) -> QuarantinedMail:
    quarantine_id = path_id(request, "quarantine_id", "held email")
    async with runtime(request).read_sessions() as db:
        held = await db.get(QuarantinedMail, quarantine_id)
    if held is None:
        raise NotFound("no held email with this id")
    return held


async def reprocess(request: Request) -> Response:
    agent = admin(request)
    held = await _held(request)
    outcome = await do_reprocess_quarantined(runtime(request), agent, held.id)
    notice = (
        f"Taken in: it is message #{outcome.message_id} now."
        if outcome.message_id is not None
        else f"Still can't be taken in: {outcome.reason}"
    )
    inbox = await email_inbox(request, held.inbox_id)
    return await settings_page(request, agent, inbox, {}, {}, notice=notice)


async def dismiss(request: Request) -> Response:
    agent = admin(request)
    held = await _held(request)
    await do_dismiss_quarantined(runtime(request), agent, held.id)
    inbox = await email_inbox(request, held.inbox_id)
    notice = "Dismissed. Its raw bytes are kept."
    return await settings_page(request, agent, inbox, {}, {}, notice=notice)


async def raw(request: Request) -> Response:
    admin(request)
    held = await _held(request)
    blobs = runtime(request).blobs
    if held.raw_sha256 is None or not blobs.exists(held.raw_sha256):
        raise NotFound("this held email's raw bytes were not kept")
    name = f"held-{held.id}.eml"
    return FileResponse(
        blobs.path(held.raw_sha256),
        media_type=OCTET_STREAM,
        headers={
            # The same inert headers as any attachment; never cached.
            "Content-Disposition": content_disposition("attachment", name, name),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": ATTACHMENT_CSP,
            "Cross-Origin-Resource-Policy": "same-origin",
            "Cache-Control": "private, no-store",
        },
    )


routes = [
    Route("/admin/quarantine/{quarantine_id:int}/reprocess", reprocess, methods=["POST"]),
    Route("/admin/quarantine/{quarantine_id:int}/dismiss", dismiss, methods=["POST"]),
    Route("/admin/quarantine/{quarantine_id:int}/raw", raw, methods=["GET"]),
]
