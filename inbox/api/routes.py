"""The JSON API's routes, mounted at /api/v1 by `inbox.app`.

Every endpoint is declared once in the registry; routing and the OpenAPI
document are both generated from it.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from . import (
    account,
    collab,
    conversations,
    customer_profile,
    customers,
    live_chat,
    mail,
    messaging,
)
from .openapi import document_endpoint
from .registry import Registry

registry = Registry()
registry.extend(account.ENDPOINTS)
registry.extend(conversations.ENDPOINTS)
registry.extend(customers.ENDPOINTS)
registry.extend(customer_profile.ENDPOINTS)
registry.extend(collab.ENDPOINTS)
registry.extend(mail.ENDPOINTS)
registry.extend(messaging.ENDPOINTS)
registry.extend(live_chat.ENDPOINTS)
registry.register(document_endpoint(registry))

routes: list[BaseRoute] = registry.routes()
