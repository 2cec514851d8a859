"""Meta's webhooks: WhatsApp Cloud API, Messenger and Instagram messaging.

All three share one app-level scheme: a verification GET answered with
`hub.challenge`, and POSTs signed with `X-Hub-Signature-256`.

- `signing`: the signature over the raw body, and the verification handshake;
- `normalise`: each product's payload and its mapping to `InboundMessage`s;
- `webhook`: the endpoints, `/webhooks/{whatsapp|messenger|instagram}/{inbox_id}`.
"""
