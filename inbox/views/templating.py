"""Jinja2 with block rendering, so a page and its htmx fragments share one template."""

from __future__ import annotations

from typing import Any

from jinja2_fragments.starlette import Jinja2Blocks
from starlette.requests import Request
from starlette.responses import Response

from inbox.config import TEMPLATES_DIR
from inbox.views.middleware import csrf_token

templates = Jinja2Blocks(directory=str(TEMPLATES_DIR))
# Everything a customer sends is rendered through autoescaping; only HTML
# already cleaned by inbox.sanitize is marked safe, in one macro.
templates.env.autoescape = True


def _csrf(request: Request) -> str:
    return csrf_token(request.session)


templates.env.globals["csrf_token"] = _csrf


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def render_block(
    request: Request, name: str, block: str, status_code: int = 200, **context: Any
) -> Response:
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, block_name=block
    )
