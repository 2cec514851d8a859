"""Normalising identities and resolving a sender to a customer.

Resolution order, fixed and documented in the README:
1. the exact identity the message arrived with (channel user id, email, phone);
2. then each further identity the message carries, in the order given
   (for example a verified email, then a phone);
3. otherwise a new customer is created with the identities that are free.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import and_, bindparam, select
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
        return _normalise_email(value)
    if kind in (IdentityKind.PHONE, IdentityKind.WHATSAPP):
        return normalise_phone(value)
    if len(value) > 320:
        raise BadRequest(f"{kind.value} identity is too long")
    return value


# Customers write again and again, and the validator takes a fifth of a
# millisecond per address: on a mailbox sync that was a tenth of the parsing.
@functools.lru_cache(maxsize=4096)
def _normalise_email(value: str) -> str:
    try:
        # Syntax only: no DNS from the ingest path. `test_environment`
        # admits the reserved .test domain used by demos and test suites.
        checked = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise BadRequest(f"invalid email address: {exc}") from exc
    return checked.normalized.lower()


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

# The identities among `kinds` x `values`: two plain INs, not a row-value IN,
# which SQLite (3.40) answers by reading the whole table, once per inbound
# batch. Both databases search the unique (kind, value) index for these; a
# pair nobody asked for (a value asked for under another kind) is dropped by
# the caller (`_asked`). Statements built once: every inbound batch runs one.
_MATCHING_REFS = and_(
    Identity.kind.in_(bindparam("kinds", expanding=True)),
    Identity.value.in_(bindparam("values", expanding=True)),
)
_HOLDERS = select(Identity.kind, Identity.value, Identity.customer_id).where(_MATCHING_REFS)


def _ref_params(refs: Sequence[IdentityRef]) -> dict[str, list[IdentityKind] | list[str]]:
    return {
        "kinds": sorted({r.kind for r in refs}),
        "values": sorted({r.value for r in refs}),
    }


def _asked(refs: Sequence[IdentityRef]) -> set[tuple[IdentityKind, str]]:
    return {(r.kind, r.value) for r in refs}


async def identity_holders(session: AsyncSession, refs: Sequence[IdentityRef]) -> Holders:
    """Which customer holds each of these identities (those nobody holds are absent)."""
    if not refs:
        return {}
    asked = _asked(refs)
    rows = await session.execute(_HOLDERS, _ref_params(refs))
    return {
        (row.kind, row.value): row.customer_id for row in rows if (row.kind, row.value) in asked
    }


class SenderResolver:
    """Resolves the senders of a batch of inbound messages to customers, in order.

    Everything is read up front in one query (who holds the identities, and
    those customers); a sender met earlier in the same batch resolves to the
    customer made or found for it then, so a batch never makes two customers
    for one person. New customers and identities are not added to the session
    here: `pending_customers` and `pending_identities` are written by the
    caller (customers first, for their ids).
    """

    def __init__(self, holders: Holders, customers: dict[int, Customer]) -> None:
        self._holders: dict[tuple[IdentityKind, str], Customer] = {
            key: customers[customer_id]
            for key, customer_id in holders.items()
            if customer_id in customers
        }
        self.pending_customers: list[Customer] = []
        self.pending_identities: list[tuple[Customer, IdentityRef]] = []

    @classmethod
    async def load(cls, session: AsyncSession, refs: Sequence[IdentityRef]) -> SenderResolver:
        """Read who holds `refs`, and those customers, in one query."""
        unique = list(dict.fromkeys(refs))
        holders: Holders = {}
        customers: dict[int, Customer] = {}
        if unique:
            asked = _asked(unique)
            rows = await session.execute(_HOLDING_CUSTOMERS, _ref_params(unique))
            for kind, value, customer in rows:
                if (kind, value) not in asked:
                    continue
                holders[(kind, value)] = customer.id
                customers[customer.id] = customer
        return cls(holders, customers)

    @property
    def known_customer_ids(self) -> set[int]:
        """The stored customers these senders may resolve to."""
        return {c.id for c in self._holders.values() if c.id is not None}

    def customer(self, refs: Sequence[IdentityRef], name: str) -> Customer:
        """The customer of the first identity (in resolution order) anybody holds, or a
        new one; the identities nobody holds yet become theirs."""
        customer = next(
            (c for r in refs if (c := self._holders.get((r.kind, r.value))) is not None), None
        )
        if customer is None:
            customer = Customer(name=name)
            self.pending_customers.append(customer)
        elif not customer.name and name:
            customer.name = name
        for r in refs:
            # One held by another customer is left alone: merging is an agent's call.
            if (r.kind, r.value) not in self._holders:
                self._holders[(r.kind, r.value)] = customer
                self.pending_identities.append((customer, r))
        return customer


# Who holds the identities and those customers, in one statement (ingest runs it per batch).
_HOLDING_CUSTOMERS = (
    select(Identity.kind, Identity.value, Customer)
    .join(Customer, Customer.id == Identity.customer_id)
    .where(_MATCHING_REFS)
)


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
