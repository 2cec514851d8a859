"""The ASGI application: `inbox.app:create_app` is what uvicorn serves."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles

from inbox.config import STATIC_DIR, Settings, load_settings
from inbox.realtime.browser import browser_socket
from inbox.realtime.stream import stream
from inbox.runtime import Runtime, create_runtime
from inbox.views import errors, health, session
from inbox.views.middleware import AuthMiddleware, CsrfMiddleware, SecurityHeadersMiddleware

log = logging.getLogger(__name__)

SESSION_MAX_AGE = int(timedelta(days=14).total_seconds())


def _routes() -> list[BaseRoute]:
    from inbox.api.routes import routes as api_routes
    from inbox.channels.api.webhook import routes as api_webhook_routes
    from inbox.channels.chat.routes import routes as chat_routes
    from inbox.channels.chat.socket import visitor_socket
    from inbox.channels.meta.webhook import routes as meta_webhook_routes
    from inbox.channels.telegram.webhook import routes as telegram_webhook_routes
    from inbox.channels.twilio.webhook import routes as sms_webhook_routes
    from inbox.views.pages import routes as page_routes

    return [
        *health.routes,
        *session.routes,
        *api_webhook_routes,
        *telegram_webhook_routes,
        *meta_webhook_routes,
        *sms_webhook_routes,
        # Before the API mount, which would otherwise claim the path.
        WebSocketRoute("/api/v1/stream", stream),
        WebSocketRoute("/ws", browser_socket),
        *chat_routes,
        WebSocketRoute("/chat/socket", visitor_socket),
        Mount("/api/v1", routes=api_routes),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        *page_routes,
    ]


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Starlette:
    """Build the app. Given a runtime (tests), the caller owns its lifetime."""
    settings = settings or (runtime.settings if runtime else load_settings())
    rt = runtime or create_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runtime is None:
            await rt.start()
            # Everything loaded so far (modules, ORM mappers, pydantic models)
            # lives as long as the process, yet a full collection scanned it
            # all: with 1,000 sockets open that paused the loop for up to
            # 175 ms (bench/, realtime). Frozen, the collector only walks what
            # requests and sockets create.
            gc.freeze()
            gc.set_threshold(25_000, 20, 20)
        try:
            yield
        finally:
            if runtime is None:
                await rt.close()

    app = Starlette(
        routes=_routes(),
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                session_cookie="inbox_session",
                max_age=SESSION_MAX_AGE,
                same_site="lax",
                https_only=settings.secure_cookies,
            ),
            Middleware(AuthMiddleware, runtime=rt),
            Middleware(CsrfMiddleware),
        ],
        exception_handlers={**errors.HANDLERS, 500: errors.server_error},
        lifespan=lifespan,
    )
    app.state.runtime = rt
    return app
