"""Where each messaging provider's HTTP API lives, per inbox.

An inbox may name its own `api_base_url` in its config: tests point it at a
local stand-in that speaks the provider's format, and a team behind an
egress proxy can point it there. Otherwise the provider's public API is used.
Sending, status lookups and media downloads all read it from here.
"""

from __future__ import annotations

from inbox.models import ChannelKind, Inbox

CONFIG_KEY = "api_base_url"

PUBLIC_BASE_URLS: dict[ChannelKind, str] = {
    ChannelKind.TELEGRAM: "https://api.telegram.org",
    ChannelKind.WHATSAPP: "https://graph.facebook.com",
    ChannelKind.MESSENGER: "https://graph.facebook.com",
    ChannelKind.INSTAGRAM: "https://graph.facebook.com",
    ChannelKind.SMS: "https://api.twilio.com",
}


def api_base_url(inbox: Inbox) -> str:
    """The inbox's provider API root, without a trailing slash."""
    configured = inbox.config.get(CONFIG_KEY)
    if isinstance(configured, str) and configured:
        return configured.rstrip("/")
    try:
        return PUBLIC_BASE_URLS[inbox.channel]
    except KeyError:
        raise ValueError(f"{inbox.channel.value} inboxes have no provider API") from None
