"""Reading a purchases CSV into rows to import, each bad row kept with its line and reason.

The first line names the columns, in any order and case:

- who: `customer_id`, or `email`, or `phone` (at least one column; the first
  filled one in that order decides);
- what: `reference`, `amount`, `currency` (required), and optionally
  `description`, `status` (default `completed`) and `purchased_at`
  (ISO 8601: a date, or a time with its zone).

Line numbers are the file's own (a quoted field may span lines), so a
person can find the row in the file they uploaded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from inbox.errors import BadRequest, InboxError
from inbox.models import IdentityKind
from inbox.profiles.identities import normalise
from inbox.profiles.purchases import PurchaseIn, check_purchase

WHO = ("customer_id", "email", "phone")
REQUIRED = ("reference", "amount", "currency")
OPTIONAL = ("description", "status", "purchased_at")
KNOWN = frozenset(WHO + REQUIRED + OPTIONAL)


@dataclass(frozen=True)
class Who:
    """How a row names its customer: an id, or an identity (kind, normalised value)."""

    customer_id: int | None = None
    identity: tuple[IdentityKind, str] | None = None

    def describe(self) -> str:
        if self.identity is not None:
            return f"{self.identity[0].value} {self.identity[1]}"
        return f"customer {self.customer_id}"


@dataclass(frozen=True)
class CsvRow:
    line: int
    who: Who
    purchase: PurchaseIn


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the file is not UTF-8 text (byte {exc.start} is not)") from exc


def _when(text: str) -> datetime | None:
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(f"purchased_at {text!r} is not an ISO 8601 date or time") from exc
    if when.tzinfo is None:
        raise BadRequest(f"purchased_at {text!r} needs a time zone (e.g. Z or +01:00)")
    return when


def _who(values: dict[str, str]) -> Who:
    if raw := values.get("customer_id", ""):
        if not raw.isdigit() or not 0 < int(raw) < 2**31:
            raise BadRequest(f"customer_id {raw!r} is not a customer id")
        return Who(customer_id=int(raw))
    for column, kind in (("email", IdentityKind.EMAIL), ("phone", IdentityKind.PHONE)):
        if raw := values.get(column, ""):
            return Who(identity=(kind, normalise(kind, raw)))
    raise BadRequest("no customer_id, email or phone to find the customer by")


def _row(values: dict[str, str]) -> tuple[Who, PurchaseIn]:
    who = _who(values)
    for column in REQUIRED:
        if not values.get(column):
            raise BadRequest(f"{column} is empty")
    try:
        amount = float(values["amount"].replace(",", ""))
    except ValueError as exc:
        raise BadRequest(f"amount {values['amount']!r} is not a number") from exc
    purchase = PurchaseIn(
        reference=values["reference"],
        amount=amount,
        currency=values["currency"],
        description=values.get("description", ""),
        status=values.get("status") or "completed",
        purchased_at=_when(values.get("purchased_at", "")),
    )
    return who, check_purchase(purchase)


def read_purchases(data: bytes) -> Iterator[CsvRow | RowProblem]:
    """Each data row, parsed or with the reason it can't be; BadRequest for a bad header."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    if not any(header):
        raise BadRequest("the file is empty: its first line must name the columns")
    unknown = [h for h in header if h not in KNOWN]
    if unknown:
        raise BadRequest(
            f"unknown columns: {', '.join(unknown)} (known: {', '.join(sorted(KNOWN))})"
        )
    if len(set(header)) != len(header):
        raise BadRequest("a column is named twice")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise BadRequest(f"missing columns: {', '.join(missing)}")
    if not any(c in header for c in WHO):
        raise BadRequest("a customer_id, email or phone column is needed")
    start = reader.line_num + 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue  # blank lines, e.g. at the end
            if len(cells) != len(header):
                yield RowProblem(line, f"{len(cells)} fields where the header names {len(header)}")
                continue
            values = {h: c.strip() for h, c in zip(header, cells, strict=True)}
            try:
                who, purchase = _row(values)
            except InboxError as exc:
                yield RowProblem(line, exc.message)
                continue
            yield CsvRow(line, who, purchase)
    except csv.Error as exc:
        yield RowProblem(start, f"the file can't be read from here on: {exc}")
