"""A payload value the schema admits but the domain refuses, for every normaliser.

Webhooks answer it with 422 naming the field (`inbox.channels.webhooks`).
"""

from __future__ import annotations

from inbox.errors import BadRequest
from inbox.models import IdentityKind
from inbox.profiles.identities import IdentityRef, ref


class InvalidField(Exception):
    """A value the schema admits but the domain refuses (say, a malformed email)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def identity(field: str, kind: IdentityKind, value: str) -> IdentityRef:
    """The normalised identity, or InvalidField naming where it came from."""
    try:
        return ref(kind, value)
    except BadRequest as exc:
        raise InvalidField(field, exc.message) from exc
