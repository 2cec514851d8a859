"""The agent UI pages (placeholder until the UI lands)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
