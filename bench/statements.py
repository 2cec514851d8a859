"""The SQL the app runs for the two read paths, written out by hand.

These mirror what SQLAlchemy emits for inbox/queries.py, inbox/access.py and
inbox/auth.py (checked with echo=True): same tables, joins, predicates, order
and limits. `list_page` and `timeline_page` are the indexed statements the
baseline times; the `*_request` sequences add the other statements one API
request runs (token lookup, visibility, selectin loads), to split the HTTP
time into database round trips and everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Statement = tuple[str, list[Any]]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


_LIST_SELECT = """
SELECT conversations.id, conversations.customer_id, conversations.inbox_id,
       conversations.subject, conversations.status, conversations.assignee_id,
       conversations.team_id, conversations.last_activity_at,
       conversations.last_message_preview, conversations.version, conversations.created_at,
       customers.name, inboxes.name AS name_1, inboxes.channel, agents_1.name AS name_2
FROM conversations
JOIN customers ON customers.id = conversations.customer_id
JOIN inboxes ON inboxes.id = conversations.inbox_id
LEFT OUTER JOIN agents AS agents_1 ON agents_1.id = conversations.assignee_id
WHERE conversations.inbox_id IN ({inboxes}) AND conversations.status = ?{after}
ORDER BY conversations.last_activity_at DESC, conversations.id DESC
LIMIT ?"""
_AFTER = " AND (conversations.last_activity_at, conversations.id) < (?, ?)"
# Positions in a list_page row, for walking cursors.
LIST_ID, LIST_AT = 0, 7


def list_page(
    inbox_ids: Sequence[int], cursor: tuple[Any, int] | None = None, *, limit: int = 25
) -> Statement:
    """One page of the inbox list (status open, newest activity first), plus one row."""
    sql = _LIST_SELECT.format(inboxes=_marks(len(inbox_ids)), after=_AFTER if cursor else "")
    params: list[Any] = [*inbox_ids, "open"]
    if cursor:
        params += [cursor[0], cursor[1]]
    return sql, [*params, limit + 1]


_TIMELINE = """
SELECT messages.id, messages.conversation_id, messages.customer_id, messages.inbox_id,
       messages.direction, messages.sender_agent_id, messages.text, messages.html,
       messages.external_id, messages.delivery, messages.delivery_error,
       messages.created_at, messages.received_at
FROM messages
WHERE messages.customer_id = ? AND messages.inbox_id IN ({inboxes})
ORDER BY messages.created_at DESC, messages.id DESC
LIMIT ?"""
TIMELINE_ID, TIMELINE_SENDER = 0, 5


def timeline_page(customer_id: int, inbox_ids: Sequence[int], *, limit: int = 50) -> Statement:
    """The newest `limit` messages of a customer in the visible inboxes, plus one."""
    return _TIMELINE.format(inboxes=_marks(len(inbox_ids))), [customer_id, *inbox_ids, limit + 1]


_AUTH = """
SELECT agents.id, agents.email, agents.name, agents.role, agents.password_hash,
       agents.api_token_hash, agents.is_active, agents.session_version, agents.created_at
FROM agents WHERE agents.api_token_hash = ?"""
_VISIBLE = """
SELECT inbox_agent_access.inbox_id FROM inbox_agent_access
WHERE inbox_agent_access.agent_id = ?
UNION
SELECT inbox_team_access.inbox_id FROM inbox_team_access
JOIN team_members ON team_members.team_id = inbox_team_access.team_id
WHERE team_members.agent_id = ?"""
_CUSTOMER = """
SELECT customers.id, customers.name, customers.attributes, customers.merged_into_id,
       customers.version, customers.created_at, customers.updated_at
FROM customers WHERE customers.id = ?"""
_CUSTOMER_VISIBLE = """
SELECT EXISTS (SELECT * FROM conversations
WHERE conversations.customer_id = ? AND conversations.inbox_id IN ({inboxes})) AS anon_1"""
_ATTACHMENTS = """
SELECT attachments.message_id, attachments.id, attachments.filename,
       attachments.content_type, attachments.size, attachments.sha256
FROM attachments WHERE attachments.message_id IN ({ids}) ORDER BY attachments.id"""
_INBOXES = """
SELECT inboxes.id, inboxes.name, inboxes.channel, inboxes.config, inboxes.secrets,
       inboxes.is_active, inboxes.created_at FROM inboxes"""
_AGENT_NAMES = "SELECT agents.id, agents.name FROM agents WHERE agents.id IN ({ids})"


def auth(token_hash: str) -> Statement:
    return _AUTH, [token_hash]


def visible_inboxes(agent_id: int) -> Statement:
    return _VISIBLE, [agent_id, agent_id]


def customer(customer_id: int) -> Statement:
    return _CUSTOMER, [customer_id]


def customer_visible(customer_id: int, inbox_ids: Sequence[int]) -> Statement:
    return _CUSTOMER_VISIBLE.format(inboxes=_marks(len(inbox_ids))), [customer_id, *inbox_ids]


def attachments(message_ids: Sequence[int]) -> Statement:
    return _ATTACHMENTS.format(ids=_marks(len(message_ids))), list(message_ids)


def all_inboxes() -> Statement:
    return _INBOXES, []


def agent_names(agent_ids: Sequence[int]) -> Statement:
    return _AGENT_NAMES.format(ids=_marks(len(agent_ids))), list(agent_ids)
