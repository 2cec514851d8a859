"""Every exception the application raises on purpose.

InboxError                  base; carries an HTTP status and a message safe to show
├── BadRequest              400: malformed or invalid input
├── NotAuthenticated        401: no or wrong credentials
├── Forbidden               403: authenticated but not allowed (role, CSRF)
├── NotFound                404: absent, or not visible to this agent
└── Conflict                409: the state moved on (already claimed, stale version)
"""

from __future__ import annotations

from typing import Any


class InboxError(Exception):
    status_code = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(InboxError):
    status_code = 400


class NotAuthenticated(InboxError):
    status_code = 401


class Forbidden(InboxError):
    status_code = 403


class NotFound(InboxError):
    status_code = 404


class Conflict(InboxError):
    status_code = 409


class PayloadTooLarge(InboxError):
    status_code = 413


class StaleInbox(InboxError):
    """A webhook was checked against inbox settings that changed before it was
    stored; checked again, it may pass or be refused."""

    status_code = 503
