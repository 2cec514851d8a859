"""The generic API channel: an integration POSTs signed JSON to `/webhooks/api/{inbox_id}`.

- `signing`: the HMAC-SHA256 request signature and its replay window;
- `normalise`: the body's schema and its mapping to an `InboundMessage`;
- `webhook`: the endpoint, which checks, normalises and hands over to `ingest()`.

The contract integrators code against is docs/api-channel.md.
"""
