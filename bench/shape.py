"""The synthetic data set: how many rows of what, and the rows themselves.

Everything comes from a generator seeded by the scale, so one scale yields the
same rows on SQLite and on PostgreSQL and the two backends' figures compare.
Rows are produced as plain tuples in the tables' column order and streamed,
so 1M messages never sit in memory as row objects.

The shape, per `Scale`:
- 6 inboxes of uneven size (a big support mailbox down to a small Telegram bot);
- conversations = messages / 10, customers = conversations / 2;
- a few "heavy" customers with dozens of conversations (hundreds of messages);
  the rest have one to a handful;
- activity spread over the year before `END`; open and pending conversations
  are mostly recent, most of the history is resolved (about 9% open overall);
- ids grow with time, as they would in a real database.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

# Bump when the generated rows change, so cached databases are rebuilt.
SHAPE_VERSION = 1

# A fixed end of history keeps the data identical across runs and backends.
END = datetime(2026, 4, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = 1_000_000
_DAY = 86_400 * _SECOND
_YEAR = 365 * _DAY
END_US = (END - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class InboxSpec:
    name: str
    channel: str
    weight: float  # share of conversations
    team: str


INBOXES: tuple[InboxSpec, ...] = (
    InboxSpec("Support email", "email", 0.34, "Support"),
    InboxSpec("Live chat", "live_chat", 0.24, "Support"),
    InboxSpec("WhatsApp", "whatsapp", 0.16, "Support"),
    InboxSpec("Sales email", "email", 0.12, "Sales"),
    InboxSpec("Instagram", "instagram", 0.08, "Sales"),
    InboxSpec("Telegram", "telegram", 0.06, "Support"),
)
TEAM_SIZES = {"Support": 9, "Sales": 4}


@dataclass(frozen=True)
class Scale:
    label: str
    messages: int

    @property
    def conversations(self) -> int:
        return max(self.messages // 10, 1)

    @property
    def customers(self) -> int:
        return max(self.conversations // 2, 1)

    @property
    def heavy_customers(self) -> int:
        return max(3, self.customers // 500)


def parse_scale(text: str) -> Scale:
    """'10k' -> 10,000 messages, '1M' -> 1,000,000; a plain number is taken as is."""
    match = re.fullmatch(r"(\d+)([kKmM]?)", text.strip())
    if not match:
        raise ValueError(f"scale {text!r} is not like 10k or 1M")
    number, unit = int(match[1]), match[2].lower()
    messages = number * {"": 1, "k": 1_000, "m": 1_000_000}[unit]
    label = f"{number}{unit.upper() if unit == 'm' else unit}"
    return Scale(label, messages)


@dataclass(frozen=True)
class Realm:
    """What the actions created: ids the bulk rows refer to."""

    inbox_ids: list[int]  # in INBOXES order
    team_ids: dict[str, int]
    agents_by_team: dict[str, list[int]]


@dataclass
class _Conversation:
    customer_id: int
    inbox_index: int
    start_us: int
    gaps_us: list[int]  # between consecutive messages; len = messages - 1
    id: int = 0
    status: str = "resolved"
    assignee_id: int | None = None

    @property
    def last_us(self) -> int:
        return self.start_us + sum(self.gaps_us)


@dataclass
class Plan:
    """The decided shape of one scale; `*_rows` stream the table contents."""

    scale: Scale
    realm: Realm
    conversations: list[_Conversation]
    customer_start_us: list[int]  # index = customer id - 1
    heavy_customer_ids: list[int]
    texts: list[str]
    customer_names: list[str]
    message_count_by_customer: dict[int, int] = field(default_factory=dict)

    def customers_rows(self, ts: Callable[[int], Any]) -> Iterator[tuple[Any, ...]]:
        for index, start in enumerate(self.customer_start_us):
            created = ts(start)
            yield (index + 1, self.customer_names[index], "{}", None, 1, created, created)

    def identities_rows(self, ts: Callable[[int], Any]) -> Iterator[tuple[Any, ...]]:
        ident = 0
        for index, start in enumerate(self.customer_start_us):
            cid = index + 1
            ident += 1
            yield (ident, cid, "email", f"customer{cid}@example.net", True, ts(start))
            if _mix(cid, 11) < 30:
                ident += 1
                yield (ident, cid, "phone", f"+1555{cid:07d}", False, ts(start))

    def conversations_rows(self, ts: Callable[[int], Any]) -> Iterator[tuple[Any, ...]]:
        for index, conv in enumerate(self.conversations):
            team = INBOXES[conv.inbox_index].team
            last_seq = len(conv.gaps_us)
            yield (
                conv.id,
                conv.customer_id,
                self.realm.inbox_ids[conv.inbox_index],
                _subject(conv.id),
                conv.status,
                conv.assignee_id,
                self.realm.team_ids[team],
                ts(conv.last_us),
                self._text(index, last_seq)[:200],
                1 + last_seq // 3,
                ts(conv.start_us),
            )

    def messages_and_attachments(
        self, ts: Callable[[int], Any]
    ) -> tuple[Iterator[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Message rows in id (= time) order, and the attachment rows they imply.

        Attachments are collected while messages stream, so read the message
        iterator to the end before using the list.
        """
        attachments: list[tuple[Any, ...]] = []
        return self._messages(ts, attachments), attachments

    def _messages(
        self, ts: Callable[[int], Any], attachments: list[tuple[Any, ...]]
    ) -> Iterator[tuple[Any, ...]]:
        events: list[tuple[int, int]] = []
        for index, conv in enumerate(self.conversations):
            at = conv.start_us
            events.append((at, index))
            for gap in conv.gaps_us:
                at += gap
                events.append((at, index))
        events.sort()
        seqs = [0] * len(self.conversations)
        for mid, (at, index) in enumerate(events, start=1):
            conv = self.conversations[index]
            seq = seqs[index]
            seqs[index] += 1
            spec = INBOXES[conv.inbox_index]
            inbox_id = self.realm.inbox_ids[conv.inbox_index]
            roll = _mix(index * 131 + seq, 7)
            text = self._text(index, seq)
            if seq == 0 or roll < 50:
                direction, sender, delivery = "inbound", None, None
                html = f"<p>{text}</p>" if spec.channel == "email" else None
                external = f"{spec.channel}-{mid}"
                received = ts(at - 2 * _SECOND)
            else:
                direction = "note" if roll >= 92 else "outbound"
                sender = conv.assignee_id or self.realm.agents_by_team[spec.team][0]
                delivery = _delivery(roll) if direction == "outbound" else None
                html, external, received = None, None, None
            error = "recipient mailbox full" if delivery == "failed" else None
            yield (
                mid,
                conv.id,
                conv.customer_id,
                inbox_id,
                direction,
                sender,
                text,
                html,
                external,
                delivery,
                error,
                ts(at),
                received,
            )
            if _mix(mid, 3) < 3:
                aid = len(attachments) + 1
                digest = f"{mid:064x}"
                attachments.append(
                    (aid, mid, f"scan-{mid}.pdf", "application/pdf", 20_000 + mid % 500_000, digest)
                )

    def table_streams(
        self, ts: Callable[[int], Any]
    ) -> Iterator[tuple[str, int | None, Iterator[tuple[Any, ...]]]]:
        """(table, expected rows or None, rows) in load order.

        Consume each stream fully before asking for the next: attachments are
        gathered while the messages stream.
        """
        yield "customers", self.scale.customers, self.customers_rows(ts)
        yield "identities", None, self.identities_rows(ts)
        yield "conversations", self.scale.conversations, self.conversations_rows(ts)
        messages, attachments = self.messages_and_attachments(ts)
        yield "messages", self.scale.messages, messages
        yield "attachments", len(attachments), iter(attachments)

    def _text(self, conv_index: int, seq: int) -> str:
        return self.texts[(conv_index * 7919 + seq * 104_729) % len(self.texts)]


def _mix(value: int, salt: int) -> int:
    """A cheap deterministic 0..99 from an integer: per-row choices without RNG state."""
    return ((value * 2_654_435_761 + salt * 40_503) >> 7) % 100


def _delivery(roll: int) -> str:
    if roll < 72:
        return "read"
    if roll < 88:
        return "delivered"
    if roll < 91:
        return "sent"
    return "failed"


_SUBJECTS = (
    "Order #{n} has not arrived",
    "Refund for order #{n}",
    "Question about my invoice {n}",
    "Cannot log in to my account",
    "Change delivery address for #{n}",
    "Discount code {n} does not work",
    "Damaged item in parcel {n}",
    "Do you ship to Norway?",
)
_WORDS = (
    "order",
    "parcel",
    "refund",
    "delivery",
    "invoice",
    "account",
    "password",
    "address",
    "tracking",
    "courier",
    "warehouse",
    "discount",
    "payment",
    "card",
    "receipt",
    "size",
    "colour",
    "return",
    "exchange",
    "subscription",
    "weekend",
    "tomorrow",
    "thanks",
    "please",
    "kindly",
    "update",
    "status",
    "urgent",
    "again",
    "still",
    "waiting",
    "label",
    "customs",
    "fee",
    "support",
    "team",
    "morning",
    "evening",
    "number",
    "email",
    "phone",
    "photo",
    "broken",
)
_FIRST = (
    "Ana",
    "Ben",
    "Chloe",
    "Dmitri",
    "Eva",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
)
_LAST = (
    "Silva",
    "Meyer",
    "Novak",
    "Okafor",
    "Rossi",
    "Tanaka",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zhang",
    "Dubois",
    "Haddad",
)


def _subject(conv_id: int) -> str:
    return _SUBJECTS[conv_id % len(_SUBJECTS)].format(n=10_000 + conv_id)


def _make_texts(rng: random.Random, count: int = 512) -> list[str]:
    texts = []
    for _ in range(count):
        sentences = []
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4, 6))):
            words = rng.choices(_WORDS, k=rng.randint(5, 14))
            sentences.append(" ".join(words).capitalize() + ".")
        texts.append(" ".join(sentences))
    return texts


def _status(rng: random.Random, age_us: int) -> str:
    # Open work is mostly recent; a tail of old conversations is left open.
    open_p, pending_p = (0.55, 0.15) if age_us < 2 * _DAY else (0.3, 0.1)
    if age_us >= 14 * _DAY:
        open_p, pending_p = 0.08, 0.02
    roll = rng.random()
    if roll < open_p:
        return "open"
    return "pending" if roll < open_p + pending_p else "resolved"


def _gap(rng: random.Random) -> int:
    # Replies come minutes to hours apart, occasionally days.
    minutes = rng.expovariate(1 / 90) if rng.random() < 0.9 else rng.uniform(600, 4_000)
    return max(_SECOND, int(minutes * 60 * _SECOND))


def build_plan(scale: Scale, realm: Realm) -> Plan:
    rng = random.Random(f"inbox-bench-{SHAPE_VERSION}-{scale.messages}")
    n_conv, n_cust = scale.conversations, scale.customers

    heavy = sorted(rng.sample(range(1, n_cust + 1), min(scale.heavy_customers, n_cust)))
    owners: list[int] = []
    for cid in heavy:
        owners.extend([cid] * rng.randint(20, 70))
    owners = owners[: n_conv // 2]  # tiny scales: keep heavies from owning everything
    heavy_set = set(heavy)
    typical = [c for c in range(1, n_cust + 1) if c not in heavy_set]
    room = n_conv - len(owners)
    owners.extend(typical[:room])
    owners.extend(rng.choices(typical or heavy, k=n_conv - len(owners)))
    rng.shuffle(owners)

    # Every conversation has a message; the rest go to conversations with
    # skewed weights, so most are short and a few run long.
    counts = [1] * n_conv
    cum = list(accumulate(rng.expovariate(1.0) ** 2 for _ in range(n_conv)))
    total = cum[-1]
    for _ in range(scale.messages - n_conv):
        counts[bisect_left(cum, rng.random() * total)] += 1

    inbox_cum = list(accumulate(spec.weight for spec in INBOXES))
    conversations = []
    for owner, count in zip(owners, counts, strict=True):
        gaps = [_gap(rng) for _ in range(count - 1)]
        span = sum(gaps)
        start = END_US - span - int(rng.random() * max(_YEAR - span, _DAY))
        inbox_index = min(bisect_left(inbox_cum, rng.random() * inbox_cum[-1]), len(INBOXES) - 1)
        conversations.append(_Conversation(owner, inbox_index, start, gaps))
    conversations.sort(key=lambda c: c.start_us)

    customer_start = [END_US] * n_cust
    by_customer: dict[int, int] = {}
    for cid, conv in enumerate(conversations, start=1):
        conv.id = cid
        conv.status = _status(rng, END_US - conv.last_us)
        team_agents = realm.agents_by_team[INBOXES[conv.inbox_index].team]
        assigned = rng.random() < (0.7 if conv.status == "open" else 0.95)
        conv.assignee_id = rng.choice(team_agents) if assigned else None
        index = conv.customer_id - 1
        customer_start[index] = min(customer_start[index], conv.start_us)
        by_customer[conv.customer_id] = by_customer.get(conv.customer_id, 0) + len(conv.gaps_us) + 1

    names = [
        "" if rng.random() < 0.05 else f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        for _ in range(n_cust)
    ]
    return Plan(
        scale=scale,
        realm=realm,
        conversations=conversations,
        customer_start_us=customer_start,
        heavy_customer_ids=heavy,
        texts=_make_texts(rng),
        customer_names=names,
        message_count_by_customer=by_customer,
    )


def to_datetime(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def to_sqlite_text(us: int) -> str:
    """How SQLAlchemy's SQLite DateTime stores a (naive UTC) value; comparisons are textual."""
    return (EPOCH + timedelta(microseconds=us)).replace(tzinfo=None).isoformat(" ", "microseconds")


# Column order of the tuples each `*_rows` method yields.
COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "id",
        "name",
        "attributes",
        "merged_into_id",
        "version",
        "created_at",
        "updated_at",
    ),
    "identities": ("id", "customer_id", "kind", "value", "verified", "created_at"),
    "conversations": (
        "id",
        "customer_id",
        "inbox_id",
        "subject",
        "status",
        "assignee_id",
        "team_id",
        "last_activity_at",
        "last_message_preview",
        "version",
        "created_at",
    ),
    "messages": (
        "id",
        "conversation_id",
        "customer_id",
        "inbox_id",
        "direction",
        "sender_agent_id",
        "text",
        "html",
        "external_id",
        "delivery",
        "delivery_error",
        "created_at",
        "received_at",
    ),
    "attachments": ("id", "message_id", "filename", "content_type", "size", "sha256"),
}
# Bulk-loaded tables, parents first.
BULK_TABLES = tuple(COLUMNS)
