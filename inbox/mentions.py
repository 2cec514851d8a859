"""@mentions in private notes: finding them in text and matching them to colleagues.

The syntax is `@` and then either a colleague's first name (`@ana`) or the
part of their email address before the `@` (`@ana.silva`), in any case. Those
are the two handles an agent already knows a colleague by, and neither needs
a separate username to be invented and kept unique.

Rules, in order:
1. A handle that is exactly someone's email local part means that person.
   Emails are unique, so this is how to be precise.
2. Otherwise a handle that is someone's first name means them, but only if
   exactly one active colleague has that first name; two or more is
   ambiguous and nobody is notified for it (the author is told to use the
   email form instead).
3. Only colleagues who can see the conversation's inbox are notified. The
   author is told about anyone they named who can't.
4. Mentioning yourself does nothing. A handle nobody goes by is reported
   back, since it is most often a typo.

Only notes mention. A reply goes to the customer, so `@name` in a reply is
just text and nobody is notified.

This module is pure (no database), so the rules are tested on their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# `@` not glued to a preceding word, so `help@example.com` is an address, not
# a mention of "example". A handle starts with a letter or digit and may hold
# the characters email local parts commonly use.
_MENTION = re.compile(r"(?<![\w.@+-])@([^\W_][\w.+-]*)")
# Sentence punctuation after a handle ("thanks @ben.") is not part of it.
_TRAILING = ".-+"
# Far more than any note needs; keeps a pasted wall of @s cheap.
MAX_HANDLES = 50


def find_handles(text: str) -> list[str]:
    """Distinct handles in order of first appearance, case-folded."""
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        handle = match.group(1).rstrip(_TRAILING).casefold()
        if handle:
            seen.setdefault(handle, None)
        if len(seen) >= MAX_HANDLES:
            break
    return list(seen)


@dataclass(frozen=True)
class Colleague:
    """The little the rules need to know about an active agent."""

    id: int
    name: str
    email: str

    @property
    def first_name(self) -> str:
        parts = self.name.split()
        return parts[0].casefold() if parts else ""

    @property
    def local_part(self) -> str:
        return self.email.rpartition("@")[0].casefold()


@dataclass(frozen=True)
class Ambiguous:
    handle: str
    candidates: tuple[Colleague, ...]


@dataclass(frozen=True)
class MentionOutcome:
    """What became of each handle in a note."""

    notified: tuple[Colleague, ...] = ()
    no_access: tuple[Colleague, ...] = ()
    ambiguous: tuple[Ambiguous, ...] = ()
    unknown: tuple[str, ...] = ()

    def warning(self) -> str | None:
        """What to tell the author, or None when every mention reached someone."""
        parts = []
        if self.no_access:
            names = _join([c.name for c in self.no_access])
            were = "wasn't" if len(self.no_access) == 1 else "weren't"
            parts.append(f"{names} can't see this inbox, so {were} notified.")
        for item in self.ambiguous:
            names = _join([c.name for c in item.candidates], "or")
            example = item.candidates[0].local_part
            parts.append(
                f"@{item.handle} could be {names}, so nobody was notified; "
                f"use their email name, e.g. @{example}."
            )
        if self.unknown:
            handles = _join([f"@{h}" for h in self.unknown], "or")
            parts.append(f"Nobody here goes by {handles}.")
        return " ".join(parts) or None


def _join(items: Sequence[str], word: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def resolve(
    handles: Iterable[str],
    colleagues: Sequence[Colleague],
    *,
    can_see: frozenset[int],
    author_id: int,
) -> MentionOutcome:
    """Match handles to colleagues and split them by whether they can be told.

    `colleagues` are the active agents; `can_see` the ids of those who may see
    the conversation's inbox.
    """
    by_local: dict[str, list[Colleague]] = {}
    by_first: dict[str, list[Colleague]] = {}
    for c in colleagues:
        by_local.setdefault(c.local_part, []).append(c)
        if c.first_name:
            by_first.setdefault(c.first_name, []).append(c)
    notified: dict[int, Colleague] = {}
    no_access: dict[int, Colleague] = {}
    ambiguous: list[Ambiguous] = []
    unknown: list[str] = []
    for handle in handles:
        matches = by_local.get(handle) or by_first.get(handle) or []
        if not matches:
            unknown.append(handle)
        elif len(matches) > 1:
            ambiguous.append(Ambiguous(handle, tuple(sorted(matches, key=lambda c: c.name))))
        elif matches[0].id == author_id:
            continue
        elif matches[0].id in can_see:
            notified.setdefault(matches[0].id, matches[0])
        else:
            no_access.setdefault(matches[0].id, matches[0])
    return MentionOutcome(
        tuple(notified.values()), tuple(no_access.values()), tuple(ambiguous), tuple(unknown)
    )
