"""The live socket a page opens: its URL names the page's context and the
outbox position the page was read at. inbox.realtime.page_context parses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

SOCKET_PATH = "/ws"


@dataclass(frozen=True)
class LiveSocket:
    url: str  # for `ws-connect`
    seq: int  # the outbox position the page shows; the socket replays what follows


def live_socket(seq: int, **context: str | int | None) -> LiveSocket:
    params = {k: str(v) for k, v in context.items() if v is not None}
    return LiveSocket(f"{SOCKET_PATH}?{urlencode({**params, 'since': str(seq)})}", seq)
