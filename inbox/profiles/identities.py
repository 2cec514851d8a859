"""Normalising identities and resolving a sender to a customer.

Resolution order, fixed and documented in the README:
1. the exact identity the message arrived with (channel user id, email, phone);
2. then each further identity the message carries, in the order given
   (for example a verified email, then a phone);
3. otherwise a new customer is created with the identities that are free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.errors import BadRequest
from inbox.models import Customer, Identity, IdentityKind


@dataclass(frozen=True)
class IdentityRef:
    kind: IdentityKind
    value: str
    verified: bool = False


def normalise(kind: IdentityKind, value: str) -> str:
    """The canonical form an identity is stored and matched in."""
    value = value.strip()
    if not value:
        raise BadRequest(f"empty {kind.value} identity")
    if kind is IdentityKind.EMAIL:
        try:
            # Syntax only: no DNS from the ingest path. `test_environment`
            # admits the reserved .test domain used by demos and test suites.
            checked = validate_email(value, check_deliverability=False, test_environment=True)
        except EmailNotValidError as exc:
            raise BadRequest(f"invalid email address: {exc}") from exc
        return checked.normalized.lower()
    if kind in (IdentityKind.PHONE, IdentityKind.WHATSAPP):
        return normalise_phone(value)
    if len(value) > 320:
        raise BadRequest(f"{kind.value} identity is too long")
    return value


def normalise_phone(value: str, default_region: str | None = None) -> str:
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise BadRequest(f"invalid phone number: {value!r}") from exc
    if not phonenumbers.is_possible_number(number):
        raise BadRequest(f"invalid phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def ref(kind: IdentityKind | str, value: str, verified: bool = False) -> IdentityRef:
    kind = IdentityKind(kind)
    return IdentityRef(kind, normalise(kind, value), verified)


Holders = dict[tuple[IdentityKind, str], int]

# Built once (every inbound message runs it): a row-value IN, which both
# SQLite and PostgreSQL take.
_HOLDERS = select(Identity.kind, Identity.value, Identity.customer_id).where(
    tuple_(Identity.kind, Identity.value).in_(bindparam("refs", expanding=True))
)


async def identity_holders(session: AsyncSession, refs: Sequence[IdentityRef]) -> Holders:
    """Which customer holds each of these identities (those nobody holds are absent).

    One query for all of them: resolving a sender and then attaching its free
    identities both need this, and every inbound message does both.
    """
    if not refs:
        return {}
    rows = await session.execute(_HOLDERS, {"refs": [(r.kind, r.value) for r in refs]})
    return {(row.kind, row.value): row.customer_id for row in rows}


async def find_customer(
    session: AsyncSession, refs: Sequence[IdentityRef], holders: Holders | None = None
) -> Customer | None:
    """The customer of the first identity (in resolution order) anybody holds."""
    if holders is None:
        holders = await identity_holders(session, refs)
    for r in refs:
        customer_id = holders.get((r.kind, r.value))
        if customer_id is not None:
            return await session.get(Customer, customer_id)
    return None


async def attach_free_identities(
    session: AsyncSession,
    customer: Customer,
    refs: Sequence[IdentityRef],
    holders: Holders | None = None,
) -> list[Identity]:
    """Add each identity nobody holds yet; one held by another customer is left alone.

    `holders`, when the caller has them, must be current (read in this transaction).
    """
    if holders is None:
        holders = await identity_holders(session, refs)
    added = []
    for r in refs:
        if (r.kind, r.value) not in holders:
            identity = Identity(
                customer_id=customer.id, kind=r.kind, value=r.value, verified=r.verified
            )
            session.add(identity)
            added.append(identity)
    if added:
        await session.flush()
    return added
