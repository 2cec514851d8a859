"""Deciding between an htmx fragment and a whole page for the same URL."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from inbox.views.templating import is_htmx


def wants_fragment(request: Request) -> bool:
    """An htmx swap, as opposed to a full page (first load, no JS, or history restore).

    On a history cache miss htmx re-requests the URL with HX-Request set but
    swaps the answer in as the whole body, so it must get the whole page.
    """
    return is_htmx(request) and request.headers.get("hx-history-restore-request") != "true"


def vary_on_htmx(response: Response) -> Response:
    """The same URL answers with a fragment or a page; caches must keep them apart."""
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response
