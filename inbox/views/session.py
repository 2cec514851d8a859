"""Signing in and out with the session cookie."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.auth import authenticate_password
from inbox.views.middleware import csrf_token
from inbox.views.requests import current_agent, runtime
from inbox.views.templating import render


def _safe_next(value: object) -> str:
    """Only same-site paths, so the login form can't be used as an open redirect."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


async def login_page(request: Request) -> Response:
    if current_agent(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
    csrf_token(request.session)
    return render(
        request, "login.html", next=_safe_next(request.query_params.get("next")), error=None
    )


async def login_submit(request: Request) -> Response:
    form = await request.form()
    email, password = form.get("email"), form.get("password")
    next_path = _safe_next(form.get("next"))
    if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
        return render(
            request, "login.html", 400, next=next_path, error="Enter your email and password."
        )
    async with runtime(request).read_sessions() as db:
        agent = await authenticate_password(db, email.strip(), password)
    if agent is None:
        return render(request, "login.html", 401, next=next_path, error="Wrong email or password.")
    # A fresh session (and CSRF token) on sign-in, so a planted cookie is worthless.
    request.session.clear()
    request.session.update({"agent_id": agent.id, "sv": agent.session_version})
    csrf_token(request.session)
    return RedirectResponse(next_path, 303)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", 303)


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
