"""Turning errors into clear 4xx answers: JSON for the API, HTML for pages."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from inbox.errors import InboxError, NotAuthenticated
from inbox.views.templating import is_htmx, render

log = logging.getLogger(__name__)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_response(request: Request, status: int, message: str, **details: Any) -> Response:
    if _is_api(request):
        body: dict[str, Any] = {"status": status, "message": message}
        if details:
            body["details"] = details
        return JSONResponse({"error": body}, status)
    if is_htmx(request):
        if status == 401:
            # Signed out meanwhile: send the whole page to the sign-in form.
            response = Response(status_code=401)
            response.headers["HX-Redirect"] = "/login"
            return response
        response = render(
            request, "_flash.html", status_code=status, message=message, level="error"
        )
        # Shown in the page's flash area, whatever the request targeted.
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    if status == 401 and request.method == "GET":
        return RedirectResponse(f"/login?next={request.url.path}", 303)
    try:
        return render(request, "error.html", status_code=status, status=status, message=message)
    except Exception:  # the error page itself must never fail the request
        return PlainTextResponse(message, status)


async def inbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InboxError)
    if isinstance(exc, NotAuthenticated) and _is_api(request):
        response = _error_response(request, 401, exc.message)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return _error_response(request, exc.status_code, exc.message, **exc.details)


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    problems = [
        {"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    first = problems[0] if problems else {"field": "", "problem": "invalid"}
    return _error_response(
        request, 422, f"{first['field'] or 'body'}: {first['problem']}", errors=problems
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = _error_response(request, exc.status_code, str(exc.detail))
    if exc.headers:  # e.g. Allow on a 405
        response.headers.update(exc.headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(request, 500, "internal error")


HANDLERS: dict[Any, Any] = {
    InboxError: inbox_error,
    ValidationError: validation_error,
    HTTPException: http_error,
}
