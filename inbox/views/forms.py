"""Reading form fields, with a clear 400 for anything malformed."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.datastructures import FormData

from inbox.errors import BadRequest


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"{name} is required")
    return value


def form_optional_int(form: FormData, name: str) -> int | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be an id")
    try:
        return int(value)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an id") from exc


def form_int(form: FormData, name: str) -> int:
    value = form_optional_int(form, name)
    if value is None:
        raise BadRequest(f"{name} is required")
    if not 0 <= value < 2**31:  # ids and versions are 32-bit columns
        raise BadRequest(f"{name} is out of range")
    return value


def form_ids(form: FormData, name: str) -> list[int]:
    """Every ticked id of a group of checkboxes (what isn't a number names nothing)."""
    return [int(v) for v in form.getlist(name) if isinstance(v, str) and v.isdigit()]


def field_errors(exc: ValidationError) -> dict[str, str]:
    """pydantic's errors keyed by form field name (imap.port -> imap_port)."""
    found: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = "_".join(str(part) for part in error["loc"]) or "form"
        found.setdefault(name, error["msg"].removeprefix("Value error, "))
    return found
