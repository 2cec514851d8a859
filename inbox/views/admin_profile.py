"""`/admin/customer-fields` (typed profile fields) and `/admin/purchases` (CSV import), for admins.

Plain forms that post to the same actions as the API. A refused field
definition comes back (400) with the reason and what was typed; an import
shows what was added, what was there already, and each bad row by line.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.actions.customer_profile import do_define_customer_field, do_delete_customer_field
from inbox.actions.purchase_import import ImportReport, import_purchases_csv
from inbox.errors import BadRequest, InboxError, PayloadTooLarge
from inbox.models import FieldType
from inbox.profiles.fields import defined_fields
from inbox.profiles.purchase_csv import KNOWN
from inbox.views.admin_inboxes import admin
from inbox.views.forms import form_text
from inbox.views.ids import path_id
from inbox.views.requests import runtime
from inbox.views.templating import render

# The upload form takes files up to this size; the CLI takes any size.
MAX_CSV_BYTES = 10 * 2**20


async def _fields_page(
    request: Request, status: int = 200, error: str = "", typed: dict[str, str] | None = None
) -> Response:
    agent = admin(request)
    async with runtime(request).read_sessions() as db:
        fields = list((await defined_fields(db)).values())
    return render(
        request,
        "admin_customer_fields.html",
        status_code=status,
        agent=agent,
        fields=fields,
        types=[t.value for t in FieldType],
        error=error,
        typed=typed or {},
    )


async def fields_page(request: Request) -> Response:
    return await _fields_page(request)


async def define_field(request: Request) -> Response:
    agent = admin(request)
    async with request.form() as form:
        typed = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            kind = form_text(form, "type")
            if kind not in {t.value for t in FieldType}:
                raise BadRequest(f"type must be one of: {', '.join(t.value for t in FieldType)}")
            await do_define_customer_field(
                runtime(request),
                agent,
                key=form_text(form, "key").strip(),
                label=form_text(form, "label"),
                type=FieldType(kind),
                options=typed.get("options", "").splitlines(),
            )
        except InboxError as exc:
            return await _fields_page(request, exc.status_code, exc.message, typed)
    return RedirectResponse("/admin/customer-fields", 303)


async def delete_field(request: Request) -> Response:
    agent = admin(request)
    await do_delete_customer_field(
        runtime(request), agent, path_id(request, "field_id", "customer field")
    )
    return RedirectResponse("/admin/customer-fields", 303)


def _import_page(
    request: Request, report: ImportReport | None = None, error: str = "", status: int = 200
) -> Response:
    return render(
        request,
        "admin_purchases.html",
        status_code=status,
        agent=admin(request),
        report=report,
        error=error,
        columns=sorted(KNOWN),
    )


async def purchases_page(request: Request) -> Response:
    return _import_page(request)


async def import_purchases(request: Request) -> Response:
    agent = admin(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_CSV_BYTES + 64 * 1024:
        raise PayloadTooLarge(
            f"the file is over {MAX_CSV_BYTES // 2**20} MB: use `inbox import-purchases`"
        )
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return _import_page(request, error="choose a CSV file to import", status=400)
        data = await upload.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise PayloadTooLarge(
            f"the file is over {MAX_CSV_BYTES // 2**20} MB: use `inbox import-purchases`"
        )
    try:
        report = await import_purchases_csv(runtime(request), agent, data)
    except BadRequest as exc:
        return _import_page(request, error=exc.message, status=400)
    return _import_page(request, report)


routes = [
    Route("/admin/customer-fields", fields_page, methods=["GET"]),
    Route("/admin/customer-fields", define_field, methods=["POST"]),
    Route("/admin/customer-fields/{field_id:int}/delete", delete_field, methods=["POST"]),
    Route("/admin/purchases", purchases_page, methods=["GET"]),
    Route("/admin/purchases", import_purchases, methods=["POST"]),
]
