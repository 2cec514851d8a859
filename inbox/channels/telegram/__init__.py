"""Telegram Bot API: the bot's webhook POSTs each update to `/webhooks/telegram/{inbox_id}`.

- `normalise`: an `Update` and its mapping to an `InboundMessage`;
- `webhook`: the endpoint, which checks the secret token and hands over to `ingest()`.
"""
