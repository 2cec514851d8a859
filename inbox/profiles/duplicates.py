"""Suggesting customers that are likely the same person as another.

Another customer, not merged and visible to the agent, is suggested when:
- it holds the same phone number (E.164), in any identity kind that carries
  one: a phone, a WhatsApp number, or a channel id that is a phone number;
- it holds the same email address, in any identity kind that carries one
  (an email, or a channel id that is an address), ignoring a `+tag` in the
  part before the `@` (`maria+shop@acme.test` is `maria@acme.test`);
- it has the same name (ignoring case and spacing) and an email at the same
  domain, unless that domain is a free-mail one (where names say nothing).

Each suggestion lists every reason that matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import phonenumbers
from sqlalchemy import Select, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import visible_inbox_ids
from inbox.models import Agent, Conversation, Customer, Identity, IdentityKind

# Where the name beside an address says nothing about who it is.
FREE_MAIL_DOMAINS = frozenset(
    {
        "aol.com",
        "gmail.com",
        "gmx.de",
        "gmx.net",
        "googlemail.com",
        "hotmail.com",
        "icloud.com",
        "live.com",
        "mail.com",
        "me.com",
        "msn.com",
        "outlook.com",
        "proton.me",
        "protonmail.com",
        "web.de",
        "yahoo.com",
        "yandex.ru",
    }
)
# A company domain with thousands of customers is only read this far for name matches.
_DOMAIN_CANDIDATES = 500

Rule = Literal["phone", "email", "name_and_domain"]


@dataclass(frozen=True)
class Reason:
    rule: Rule
    value: str

    @property
    def text(self) -> str:
        if self.rule == "phone":
            return f"Same phone number {self.value}"
        if self.rule == "email":
            return f"Same email address {self.value}"
        return f"Same name and an email at {self.value}"


@dataclass(frozen=True)
class Suggestion:
    customer: Customer
    reasons: list[Reason]


def contact_of(kind: IdentityKind, value: str) -> tuple[Literal["phone", "email"], str] | None:
    """The phone (E.164) or email (lower-case, without a +tag) an identity carries, if any."""
    if kind is IdentityKind.EMAIL or (kind is not IdentityKind.PHONE and "@" in value):
        local, _, domain = value.lower().rpartition("@")
        local = local.split("+", 1)[0]
        return ("email", f"{local}@{domain}") if local and "." in domain else None
    if kind in (IdentityKind.PHONE, IdentityKind.WHATSAPP) or value.startswith("+"):
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_possible_number(number):
            return None
        return ("phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return None


def name_key(name: str) -> str:
    return " ".join(name.casefold().split())


def _like_escape(text: str) -> str:
    return re.sub(r"([\\%_])", r"\\\1", text)


async def likely_duplicates(
    session: AsyncSession, customer_id: int, *, viewer: Agent
) -> list[Suggestion]:
    """Customers `viewer` may see who are likely the same person as `customer_id`."""
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.merged_into_id is not None:
        return []
    own = (
        await session.execute(
            select(Identity.kind, Identity.value).where(Identity.customer_id == customer_id)
        )
    ).all()
    contacts = {c for kind, value in own if (c := contact_of(kind, value)) is not None}
    if not contacts:
        return []
    # Stored values that could carry one of these contacts: the exact value,
    # and for an email any +tag variant of it.
    matches = []
    for what, value in contacts:
        matches.append(Identity.value == value)
        if what == "email":
            local, _, domain = value.rpartition("@")
            matches.append(
                Identity.value.like(f"{_like_escape(local)}+%@{_like_escape(domain)}", escape="\\")
            )
    found: dict[int, list[Reason]] = {}
    others = await _visible_others(session, viewer, customer_id)
    rows = await session.execute(
        select(Identity.customer_id, Identity.kind, Identity.value)
        .where(or_(*matches), Identity.customer_id.in_(others))
        .order_by(Identity.customer_id, Identity.id)
    )
    for other_id, kind, value in rows:
        contact = contact_of(kind, value)
        if contact in contacts:
            assert contact is not None
            _add(found, other_id, Reason(contact[0], contact[1]))
    own_name = name_key(customer.name)
    domains = sorted(
        {v.rpartition("@")[2] for what, v in contacts if what == "email"} - FREE_MAIL_DOMAINS
    )
    if own_name and domains:
        for domain in domains:
            named = await session.execute(
                select(Identity.customer_id, Customer.name)
                .join(Customer, Customer.id == Identity.customer_id)
                .where(
                    Identity.value.like(f"%@{_like_escape(domain)}", escape="\\"),
                    Identity.customer_id.in_(others),
                )
                .distinct()
                .limit(_DOMAIN_CANDIDATES)
            )
            for other_id, name in named:
                if name_key(name) == own_name:
                    _add(found, other_id, Reason("name_and_domain", domain))
    if not found:
        return []
    people = await session.scalars(
        select(Customer).where(Customer.id.in_(sorted(found))).order_by(Customer.id)
    )
    return [Suggestion(person, found[person.id]) for person in people]


def _add(found: dict[int, list[Reason]], customer_id: int, reason: Reason) -> None:
    reasons = found.setdefault(customer_id, [])
    if reason not in reasons:
        reasons.append(reason)


async def _visible_others(session: AsyncSession, viewer: Agent, customer_id: int) -> Select[Any]:
    """Customers other than this one, not merged, that `viewer` may see (a subquery)."""
    stmt = select(Customer.id).where(Customer.id != customer_id, Customer.merged_into_id.is_(None))
    if not viewer.is_admin:
        inbox_ids = sorted(await visible_inbox_ids(session, viewer))
        stmt = stmt.where(
            exists().where(
                Conversation.customer_id == Customer.id, Conversation.inbox_id.in_(inbox_ids)
            )
        )
    return stmt
