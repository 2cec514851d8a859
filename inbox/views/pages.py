"""The agent UI pages: collects the routes of each page's module."""

from __future__ import annotations

from starlette.routing import BaseRoute

from inbox.views import (
    admin_chat,
    admin_inboxes,
    admin_messaging,
    admin_profile,
    admin_quarantine,
    attachments,
    board_page,
    conversation_actions,
    conversation_page,
    customer_page,
    direct_messages_page,
    inbox_list,
    message_moves,
    notifications_page,
    profile_edit,
)

routes: list[BaseRoute] = [
    *inbox_list.routes,
    *conversation_page.routes,
    *conversation_actions.routes,
    *customer_page.routes,
    *profile_edit.routes,
    *notifications_page.routes,
    *direct_messages_page.routes,
    *board_page.routes,
    *admin_inboxes.routes,
    *admin_chat.routes,
    *admin_messaging.routes,
    *admin_profile.routes,
    *admin_quarantine.routes,
    *message_moves.routes,
    *attachments.routes,
]
