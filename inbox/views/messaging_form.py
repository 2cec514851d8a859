"""The admin form of a messaging inbox: its fields, read from the same pydantic
input the API takes (`inbox.channels.messaging_settings`), and the form's
values in and out.

Secrets are never part of what is rendered back: a failed form keeps what
was typed except them, and a stored one shows only as "set".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

from starlette.datastructures import FormData

from inbox.channels.messaging_settings import (
    INPUTS,
    MessagingInboxIn,
    config_names,
    secret_names,
)
from inbox.models import ChannelKind, Inbox
from inbox.views.forms import form_ids

# How each setting is called on the page; the rules and help come from the input.
_LABELS = {
    "bot_token": "Bot token",
    "secret_token": "Webhook secret token",
    "app_secret": "App secret",
    "verify_token": "Verify token",
    "access_token": "Access token",
    "graph_api_version": "Graph API version",
    "phone_number_id": "Phone number ID",
    "auth_token": "Auth token",
    "account_sid": "Account SID",
    "phone_number": "Phone number",
    "signing_secret": "Signing secret",
    "outbound_webhook_url": "Outbound webhook URL",
    "api_base_url": "API base URL",
}
_TEMPLATE_PARTS = ("name", "language", "body_params")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    hint: str
    secret: bool
    required: bool


@dataclass
class MessagingForm:
    """What the page shows in the form: typed or stored values, never a secret."""

    values: dict[str, str] = field(default_factory=dict)
    team_ids: set[int] = field(default_factory=set)
    templates: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Submitted:
    """A posted form: the input for the model, which secrets were typed, what to show back."""

    given: dict[str, Any]
    secrets_typed: frozenset[str]
    shown: MessagingForm


def model_of(channel: ChannelKind) -> type[MessagingInboxIn]:
    return INPUTS[channel]


def fields_of(channel: ChannelKind) -> list[FieldSpec]:
    """The inbox kind's settings as form fields, secrets first (templates have their own table)."""
    model = model_of(channel)
    names = [*secret_names(model), *config_names(model)]
    return [
        FieldSpec(
            name,
            _LABELS.get(name, name.replace("_", " ").capitalize()),
            (model.model_fields[name].description or "").replace("`", ""),
            name not in config_names(model),
            model.model_fields[name].is_required(),
        )
        for name in names
        if name != "templates"
    ]


def takes_templates(channel: ChannelKind) -> bool:
    return "templates" in model_of(channel).model_fields


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _template_rows(form: FormData) -> list[dict[str, str]]:
    """The table's rows as typed, leaving out blank ones and those ticked for removal."""
    removed = {v for v in form.getlist("template_remove") if isinstance(v, str)}
    columns = [form.getlist(f"template_{part}") for part in _TEMPLATE_PARTS]
    rows: list[dict[str, str]] = []
    for index, cells in enumerate(zip_longest(*columns, fillvalue="")):
        row = {
            part: cell.strip() if isinstance(cell, str) else ""
            for part, cell in zip(_TEMPLATE_PARTS, cells, strict=True)
        }
        if str(index) not in removed and any(row.values()):
            rows.append(row)
    return rows


def _template_input(row: dict[str, str]) -> dict[str, Any]:
    count = row["body_params"]
    given: dict[str, Any] = {"name": row["name"], "language": row["language"]}
    if count:
        # A number typed is a number; anything else goes to the model to be refused.
        given["body_params"] = int(count) if count.isdigit() and len(count) <= 6 else count
    return given


def submitted(form: FormData, channel: ChannelKind) -> Submitted:
    """The posted form as the model's input; a blank field is simply not given."""
    team_ids = form_ids(form, "team_ids")
    given: dict[str, Any] = {"name": _text(form, "name"), "team_ids": team_ids}
    shown = MessagingForm({"name": given["name"]}, set(team_ids))
    typed: list[str] = []
    for spec in fields_of(channel):
        value = _text(form, spec.name)
        if not value:
            continue
        given[spec.name] = value
        if spec.secret:
            typed.append(spec.name)
        else:
            shown.values[spec.name] = value
    if takes_templates(channel):
        shown.templates = _template_rows(form)
        given["templates"] = [_template_input(row) for row in shown.templates]
    return Submitted(given, frozenset(typed), shown)


def stored_form(inbox: Inbox, team_ids: set[int]) -> MessagingForm:
    """The inbox's stored settings as the form shows them."""
    shown = MessagingForm({"name": inbox.name}, team_ids)
    for spec in fields_of(inbox.channel):
        value = inbox.config.get(spec.name)
        if not spec.secret and isinstance(value, str):
            shown.values[spec.name] = value
    listed = inbox.config.get("templates")
    for raw in listed if isinstance(listed, list) else []:
        if isinstance(raw, dict):
            shown.templates.append({part: str(raw.get(part, "")) for part in _TEMPLATE_PARTS})
    return shown
