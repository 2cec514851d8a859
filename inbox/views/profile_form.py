"""The profile's edit form: what it holds, including when an edit was refused.

The form carries the `version` the agent loaded. It is not pushed live, so
what an agent types is never swapped away; a colleague's change meanwhile
makes the server refuse the edit, and the form comes back with the current
values (and version) next to what the agent had typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inbox.models import Customer, CustomerField
from inbox.profiles.fields import display, form_text

ATTR_PREFIX = "attr:"


@dataclass(frozen=True)
class FieldInput:
    key: str
    label: str
    type: str
    options: list[str]
    # What the input holds.
    value: str
    # Set on a refused edit: what the agent had typed, if it differs from `value`.
    typed: str | None = None


@dataclass(frozen=True)
class EditForm:
    url: str
    version: int
    name: str
    inputs: list[FieldInput]
    typed_name: str | None = None
    message: str = ""
    # "error" (bad value: the typed values stay) or "stale" (someone else changed it).
    level: str = ""
    opened: bool = False
    tags_typed: str = ""


def edit_form(
    customer: Customer,
    fields: Sequence[CustomerField],
    *,
    typed: Mapping[str, str] | None = None,
    message: str = "",
    level: str = "",
) -> EditForm:
    """The form for `customer` as stored; with `typed` (a refused edit) it says what differs.

    For `level="error"` the inputs keep what was typed, to be corrected; for
    `"stale"` they show the current values, with what was typed beside them.
    """
    typed = typed or {}
    keep_typed = level == "error"

    def pick(current: str, mine: str | None) -> tuple[str, str | None]:
        if mine is None:
            return current, None
        if keep_typed:
            return mine, None
        return current, (mine if mine.strip() != current.strip() else None)

    inputs = []
    for f in fields:
        value, mine = pick(
            form_text(f, customer.attributes.get(f.key)), typed.get(ATTR_PREFIX + f.key)
        )
        inputs.append(FieldInput(f.key, f.label, f.type.value, list(f.options), value, mine))
    name, typed_name = pick(customer.name, typed.get("name"))
    return EditForm(
        url=f"/customers/{customer.id}/profile",
        version=customer.version,
        name=name,
        inputs=inputs,
        typed_name=typed_name,
        message=message,
        level=level,
        opened=bool(message),
        tags_typed=typed.get("add_tags", "") if keep_typed else "",
    )


def attribute_rows(
    attributes: Mapping[str, Any], fields: Sequence[CustomerField]
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(key, label, text) for each defined field with a value, in definition order,
    and (key, text) for every other, free-form attribute, by key."""
    defined = {f.key for f in fields}
    typed = [(f.key, f.label, display(f, attributes[f.key])) for f in fields if f.key in attributes]
    free = sorted((k, display(None, v)) for k, v in attributes.items() if k not in defined)
    return typed, free
