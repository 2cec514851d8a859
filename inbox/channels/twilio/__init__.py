"""Twilio Programmable Messaging (SMS): incoming messages POSTed form-encoded to
`/webhooks/sms/{inbox_id}`.

- `signing`: `X-Twilio-Signature` and the URL Twilio called, behind a proxy too;
- `normalise`: the form's parameters and their mapping to an `InboundMessage`;
- `webhook`: the endpoint, which answers an empty TwiML `<Response/>`.
"""
