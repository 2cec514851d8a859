"""The agent UI pages: collects the routes of each page's module."""

from __future__ import annotations

from starlette.routing import BaseRoute

from inbox.views import conversation_actions, conversation_page, customer_page, inbox_list

routes: list[BaseRoute] = [
    *inbox_list.routes,
    *conversation_page.routes,
    *conversation_actions.routes,
    *customer_page.routes,
]
