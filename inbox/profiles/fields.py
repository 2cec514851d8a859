"""Typed customer fields: checking a value against its field's type, and showing it.

Values are stored in `Customer.attributes` as JSON: text and choice as
strings, numbers as numbers, dates as `YYYY-MM-DD` strings, booleans as
true/false. API values arrive as JSON (`value_for`); form values arrive as
text (`value_from_form`). Both refuse with a BadRequest naming the field and
why, so nothing invalid is ever stored.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.errors import BadRequest
from inbox.models import CustomerField, FieldType

KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_TEXT = 1000
MAX_OPTIONS = 100
# Numbers beyond this lose precision in JSON clients (2**53).
MAX_NUMBER = 9_007_199_254_740_991
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


async def defined_fields(session: AsyncSession) -> dict[str, CustomerField]:
    """Every field, by key, in the order they were defined."""
    rows = await session.scalars(select(CustomerField).order_by(CustomerField.id))
    return {f.key: f for f in rows}


def check_definition(key: str, label: str, type_: FieldType, options: list[str]) -> list[str]:
    """The options, cleaned; BadRequest for a key, label or option list that can't work."""
    if not KEY.fullmatch(key):
        raise BadRequest(
            "a field key is 1 to 64 lower-case letters, digits or _, starting with a letter"
        )
    if not label.strip() or len(label) > 100:
        raise BadRequest("a field label is 1 to 100 characters")
    cleaned = [o.strip() for o in options if o.strip()]
    if type_ is FieldType.CHOICE:
        if not cleaned:
            raise BadRequest("a choice field needs at least one option")
        if len(set(cleaned)) != len(cleaned):
            raise BadRequest("a choice field's options must differ")
        if len(cleaned) > MAX_OPTIONS or any(len(o) > 100 for o in cleaned):
            raise BadRequest(f"at most {MAX_OPTIONS} options of up to 100 characters each")
    elif cleaned:
        raise BadRequest("only a choice field has options")
    return cleaned


def _refuse(field: CustomerField, why: str) -> BadRequest:
    return BadRequest(f"{field.label} ({field.key}): {why}", field=field.key)


def _number(field: CustomerField, value: float) -> int | float:
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise _refuse(field, "the number is out of range")
    return int(value) if float(value).is_integer() else value


def _date(field: CustomerField, text: str) -> str:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError as exc:
        raise _refuse(field, f"{text!r} is not a date (YYYY-MM-DD)") from exc


def _choice(field: CustomerField, text: str) -> str:
    if text not in field.options:
        raise _refuse(field, f"{text!r} is not one of: {', '.join(field.options)}")
    return text


def _text(field: CustomerField, text: str) -> str:
    if len(text) > MAX_TEXT:
        raise _refuse(field, f"at most {MAX_TEXT} characters")
    return text


def value_for(field: CustomerField, value: Any) -> Any:
    """A JSON value, checked and normalised for storage (None clears it)."""
    if value is None:
        return None
    kind = field.type
    if kind is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise _refuse(field, "expected true or false")
        return value
    if kind is FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(field, "expected a number")
        return _number(field, float(value) if isinstance(value, float) else value)
    if not isinstance(value, str):
        raise _refuse(field, "expected a string")
    if kind is FieldType.DATE:
        return _date(field, value)
    if kind is FieldType.CHOICE:
        return _choice(field, value)
    return _text(field, value)


def value_from_form(field: CustomerField, text: str) -> Any:
    """A form's text, checked and normalised for storage (empty clears it)."""
    text = text.strip()
    if not text:
        return None
    kind = field.type
    if kind is FieldType.BOOLEAN:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise _refuse(field, f"{text!r} is not yes or no")
    if kind is FieldType.NUMBER:
        try:
            number = float(text.replace(",", ""))
        except ValueError as exc:
            raise _refuse(field, f"{text!r} is not a number") from exc
        return _number(field, number)
    return value_for(field, text)


def display(field: CustomerField | None, value: Any) -> str:
    """How a stored value reads on the profile."""
    if field is not None and field.type is FieldType.BOOLEAN and isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:,}" if isinstance(value, int) else f"{value:,.10g}"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def form_text(field: CustomerField, value: Any) -> str:
    """A stored value as an edit form's input holds it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
