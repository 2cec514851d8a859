"""Liveness and readiness for load balancers and the Procfile's platform."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.views.requests import runtime


async def healthz(request: Request) -> Response:
    try:
        async with runtime(request).read_sessions() as db:
            await db.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})


routes = [Route("/healthz", healthz, methods=["GET"])]
