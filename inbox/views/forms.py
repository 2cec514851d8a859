"""Reading form fields, with a clear 400 for anything malformed."""

from __future__ import annotations

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
