"""Ids from paths and forms, bounded so the database can always bind them.

An `{id:int}` route accepts any number of digits; a value past the column's
range would make the driver raise (a 500) instead of finding nothing.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import HTTPConnection

from inbox.errors import BadRequest, NotFound
from inbox.views.forms import form_optional_int
from inbox.views.requests import path_int

MAX_ID = 2**31 - 1  # agents, conversations, customers, direct messages
MAX_BIG_ID = 2**63 - 1  # notifications, messages


def path_id(conn: HTTPConnection, name: str, what: str, *, limit: int = MAX_ID) -> int:
    """A path id; one that can't exist is simply not found."""
    value = path_int(conn, name)
    if not 0 < value <= limit:
        raise NotFound(f"{what} not found")
    return value


def form_id(form: FormData, name: str, *, limit: int = MAX_ID) -> int | None:
    """An optional id field; anything but a positive id in range is a 400."""
    value = form_optional_int(form, name)
    if value is not None and not 0 < value <= limit:
        raise BadRequest(f"{name} must be an id")
    return value


def required_form_id(form: FormData, name: str, label: str) -> int:
    value = form_id(form, name)
    if value is None:
        raise BadRequest(f"choose {label}")
    return value
