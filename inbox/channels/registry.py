"""Where connectors come from: the `inbox.connectors` entry-point group.

Built-in connectors register through the same entry points a third-party
package would use, so there is one way in.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inbox.channels.base import Connector
    from inbox.models import Inbox
    from inbox.runtime import Runtime

ConnectorFactory = Callable[["Runtime", "Inbox"], "Connector"]
GROUP = "inbox.connectors"


def connector_factories() -> dict[str, ConnectorFactory]:
    """Channel kind -> factory, for every installed connector that runs in the worker."""
    return {ep.name: ep.load() for ep in entry_points(group=GROUP)}
