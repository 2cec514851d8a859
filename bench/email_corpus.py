"""A realistic mailbox for the email sync benchmark, generated, then written into a Maildir.

The mix, from one seeded generator (the same mailbox every run):

- ~200 customers at a few dozen domains, some with non-ASCII names (RFC 2047
  encoded words), writing over a few months;
- sizes spread log-uniformly over about 2-20 KB, headers included: each
  message carries the Received, DKIM-Signature and Authentication-Results
  headers real mail has, which the parser must read too;
- 45% text/plain, 25% multipart/alternative (plain + HTML), 10% HTML only and
  20% multipart/mixed with one or two small attachments (PDF, PNG, CSV);
  some UTF-8 bodies are quoted-printable, some Latin-1;
- about 30% are replies to an earlier message of the same customer, with
  `In-Reply-To`, a growing `References` chain, "Re:" and the quoted history.

Seeding writes the files straight into the user's `Maildir/cur`, named as
Dovecot names its own deliveries (`<time>.<unique>.<host>,S=<size>,W=<size
with CRLF>:2,`), owned by the mail user, with the arrival time as the file's
mtime (Dovecot's INTERNALDATE for maildir). Dovecot indexes them at the first
SELECT; UIDs follow the file names' time order. This takes seconds where
20,000 APPENDs take minutes, and the server ends up in the same state as
after delivery: the same UIDs, sizes and dates an IMAP client sees.
"""

from __future__ import annotations

import base64
import os
import quopri
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

_FIRST = [
    "Maria",
    "Ana",
    "Ben",
    "Olga",
    "Jonas",
    "Lena",
    "Tom",
    "Sara",
    "Piotr",
    "Chen",
    "Priya",
    "Omar",
    "Lucia",
    "Noah",
    "Emma",
    "Liam",
    "Mia",
    "Hugo",
    "Ines",
    "Yuki",
    "Kofi",
    "Aisha",
    "Lars",
    "Nina",
    "Marco",
    "Eva",
    "Felix",
    "Rosa",
    "Ivan",
    "Hana",
]
_LAST = [
    "Garcia",
    "Smith",
    "Novak",
    "Müller",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Tanaka",
    "Okafor",
    "Silva",
    "Jensen",
    "Costa",
    "Nguyen",
    "Haddad",
    "Brown",
    "Fischer",
    "Moreau",
    "Ivanova",
    "Lindqvist",
    "Patel",
    "Schmidt",
    "Álvarez",
    "Zoë",
]
_DOMAINS = [
    "gmail.example",
    "yahoo.example",
    "outlook.example",
    "proton.example",
    "icloud.example",
    "acme.test",
    "globex.test",
    "initech.test",
    "umbrella.test",
    "hooli.test",
    "stark.test",
    "wayne.test",
    "wonka.test",
    "soylent.test",
    "tyrell.test",
    "cyberdyne.test",
    "aperture.test",
    "blackmesa.test",
    "gringotts.test",
    "oscorp.test",
    "vandelay.test",
    "prestige.test",
    "dunder.test",
    "pied.test",
    "monarch.test",
]
_WORDS = [
    "order",
    "delivery",
    "parcel",
    "refund",
    "invoice",
    "account",
    "password",
    "login",
    "payment",
    "card",
    "charged",
    "twice",
    "shipping",
    "address",
    "tracking",
    "number",
    "warehouse",
    "support",
    "team",
    "please",
    "help",
    "thanks",
    "week",
    "days",
    "yesterday",
    "today",
    "tomorrow",
    "morning",
    "evening",
    "still",
    "waiting",
    "update",
    "reply",
    "message",
    "email",
    "phone",
    "product",
    "size",
    "colour",
    "broken",
    "damaged",
    "missing",
    "item",
    "return",
    "label",
    "exchange",
    "subscription",
    "plan",
    "cancel",
    "renew",
    "upgrade",
    "discount",
    "code",
    "coupon",
    "price",
    "receipt",
    "total",
    "tax",
    "customs",
    "package",
    "box",
    "courier",
    "driver",
    "door",
    "neighbour",
    "weekend",
    "holiday",
    "urgent",
    "soon",
    "possible",
    "problem",
    "issue",
    "error",
    "screen",
    "app",
    "website",
    "checkout",
    "basket",
    "cart",
    "stock",
    "available",
    "restock",
    "notify",
    "gift",
    "wrap",
    "message",
    "café",
    "über",
    "naïve",
    "résumé",
    "Grüße",
    "señor",
    "déjà",
    "façade",
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "if",
    "when",
    "because",
    "so",
    "that",
    "this",
    "it",
    "we",
    "you",
    "they",
    "I",
    "my",
    "your",
    "our",
    "their",
    "is",
    "was",
    "are",
    "were",
    "be",
    "been",
    "have",
    "has",
    "had",
    "do",
    "did",
    "not",
    "can",
    "could",
    "would",
    "should",
    "will",
    "may",
    "might",
    "must",
    "about",
    "after",
    "before",
    "with",
    "without",
    "from",
    "into",
    "over",
    "under",
    "again",
    "once",
    "more",
    "most",
    "some",
    "any",
    "every",
    "each",
    "all",
    "both",
    "few",
    "many",
    "much",
    "very",
    "really",
    "just",
    "also",
    "only",
    "even",
    "still",
    "already",
    "yet",
    "now",
    "then",
    "here",
    "there",
    "where",
    "why",
    "how",
    "what",
    "which",
    "who",
]
_SUBJECTS = (
    "Where is my order #{n}",
    "Refund for invoice {n}",
    "Problem with my account",
    "Charged twice for order {n}",
    "Question about delivery",
    "Damaged item in parcel {n}",
    "Cannot log in",
    "Change of shipping address",
    "Cancel my subscription",
    "Discount code not working",
    "Missing item from order {n}",
    "Exchange for a different size",
    "Invoice needed for my company",
    "Wrong colour delivered",
    "When will it be back in stock?",
)
_CLIENTS = (
    "Apple Mail (2.3774)",
    "Microsoft Outlook 16.0",
    "Mozilla Thunderbird 128.4",
    "Gmail",
    "K-9 Mail for Android",
)
_ATTACHMENTS = (
    ("application/pdf", "invoice.pdf"),
    ("image/png", "photo.png"),
    ("image/jpeg", "IMG_2041.jpg"),
    ("text/csv", "orders.csv"),
)

INBOX_ADDRESS = "support@shop.test"
_SENTENCES = 4000


@dataclass(frozen=True)
class Customer:
    name: str
    address: str


@dataclass
class _Thread:
    customer: Customer
    subject: str
    ids: list[str] = field(default_factory=list)  # Message-IDs, oldest first
    last_text: str = ""
    last_date: datetime | None = None


@dataclass(frozen=True)
class Mail:
    raw: bytes  # LF line endings, as Maildir files have them
    date: datetime
    kind: str  # plain | alternative | html | attachment
    reply: bool


class Generator:
    """Deterministic messages: the same seed gives the same mailbox."""

    def __init__(self, seed: int = 20260101, customers: int = 200) -> None:
        self.rng = random.Random(seed)
        self.customers = [self._customer(i) for i in range(customers)]
        self.sentences = [self._sentence() for _ in range(_SENTENCES)]
        self.threads: list[_Thread] = []
        self.clock = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
        self.count = 0

    def _customer(self, i: int) -> Customer:
        rng = self.rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        domain = _DOMAINS[i % len(_DOMAINS)]
        local = f"{first}.{last}".lower().encode("ascii", "ignore").decode() or "customer"
        return Customer(f"{first} {last}", f"{local}{i}@{domain}")

    def _sentence(self) -> str:
        words = self.rng.choices(_WORDS, k=self.rng.randint(6, 18))
        return " ".join(words).capitalize() + self.rng.choice((".", ".", ".", "?", "!"))

    def _text(self, size: int) -> str:
        """Paragraphs of sentences, about `size` characters."""
        rng = self.rng
        out: list[str] = []
        total = 0
        while total < size:
            para = _wrap(" ".join(rng.choices(self.sentences, k=rng.randint(2, 5))))
            out.append(para)
            total += len(para) + 2
        return "\n\n".join(out)

    def mails(self, count: int) -> Iterator[Mail]:
        for _ in range(count):
            yield self.next()

    def next(self) -> Mail:
        rng = self.rng
        self.count += 1
        n = self.count
        self.clock += timedelta(seconds=rng.randint(20, 600))
        reply_to = None
        if self.threads and rng.random() < 0.30:
            # A follow-up to one of the recent conversations.
            reply_to = rng.choice(self.threads[-400:])
        if reply_to is None:
            customer = rng.choice(self.customers)
            subject = rng.choice(_SUBJECTS).format(n=rng.randint(10000, 99999))
            thread = _Thread(customer, subject)
            self.threads.append(thread)
        else:
            thread = reply_to
            customer = thread.customer
        domain = customer.address.rsplit("@", 1)[1]
        message_id = f"<{n}.{rng.getrandbits(48):012x}@{domain}>"
        target = int(2048 * 10 ** rng.uniform(0, 1))  # 2-20 KB, log-uniform
        roll = rng.random()
        kind = (
            "plain"
            if roll < 0.45
            else "alternative"
            if roll < 0.70
            else "html"
            if roll < 0.80
            else "attachment"
        )
        headers = self._headers(n, customer, thread, message_id, reply_to is not None)
        head_len = sum(len(h) + 1 for h in headers)
        budget = max(600, target - head_len)
        # The plain text is about 40% of an alternative (the HTML copy is
        # larger); with attachments, base64 takes the rest of the budget.
        text_size = int(budget * {"alternative": 0.4, "attachment": 0.22}.get(kind, 0.9))
        text = self._text(text_size)
        if reply_to is not None and thread.last_text and thread.last_date is not None:
            quoted = "\n".join("> " + line for line in thread.last_text.splitlines()[:30])
            when = format_datetime(thread.last_date)
            text = f"{text}\n\nOn {when}, {customer.name} <{customer.address}> wrote:\n{quoted}"
        latin1 = rng.random() < 0.05
        body_lines = self._body(kind, text, latin1, int(budget * 0.4))
        thread.ids.append(message_id)
        thread.last_text = text.split("\n\nOn ", 1)[0]
        thread.last_date = self.clock
        raw = ("\n".join(headers) + "\n" + body_lines).encode("latin-1" if latin1 else "utf-8")
        return Mail(raw, self.clock, kind, reply_to is not None)

    def _headers(
        self, n: int, customer: Customer, thread: _Thread, message_id: str, reply: bool
    ) -> list[str]:
        rng = self.rng
        date = format_datetime(self.clock)
        relay = f"mx{rng.randint(1, 9)}.{customer.address.rsplit('@', 1)[1]}"
        dkim = base64.b64encode(rng.randbytes(180)).decode()
        headers = [
            f"Return-Path: <{customer.address}>",
            f"Delivered-To: {INBOX_ADDRESS}",
            f"Received: from {relay} (relay [198.51.100.{n % 250}])\n"
            f"\tby mx.shop.test with ESMTPS id {rng.getrandbits(40):010x}\n"
            f"\tfor <{INBOX_ADDRESS}>; {date}",
            f"Received: by {relay} with SMTP id {rng.getrandbits(32):08x}; {date}",
            "Authentication-Results: mx.shop.test; dkim=pass header.d="
            f"{customer.address.rsplit('@', 1)[1]}; spf=pass; dmarc=pass",
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d="
            f"{customer.address.rsplit('@', 1)[1]}; s=s1;\n"
            "\th=from:to:subject:date:message-id; bh=" + dkim[:44] + ";\n"
            "\tb=" + dkim[44:120] + "\n\t " + dkim[120:],
            f"From: {_display(customer.name)} <{customer.address}>",
            f"To: Shop Support <{INBOX_ADDRESS}>",
            f"Subject: {'Re: ' if reply else ''}{thread.subject}",
            f"Date: {date}",
            f"Message-ID: {message_id}",
            f"X-Mailer: {rng.choice(_CLIENTS)}",
            "MIME-Version: 1.0",
        ]
        if reply and thread.ids:
            headers.append(f"In-Reply-To: {thread.ids[-1]}")
            headers.append("References: " + "\n ".join(thread.ids[-10:]))
        return headers

    def _body(self, kind: str, text: str, latin1: bool, attach_bytes: int) -> str:
        """The Content-Type header onwards (the caller joins it after the headers)."""
        rng = self.rng
        charset = "iso-8859-1" if latin1 else "utf-8"
        if kind == "plain":
            return self._single("text/plain", text, charset)
        if kind == "html":
            return self._single("text/html", _html(text), charset)
        boundary = f"----=_Part_{rng.getrandbits(64):016x}"
        alt = self._multipart(
            "alternative",
            [_part("text/plain", text, charset), _part("text/html", _html(text), charset)],
            boundary + "_alt",
        )
        if kind == "alternative":
            return alt
        parts = [alt]
        count = rng.choice((1, 1, 2))
        for _ in range(count):
            ctype, name = rng.choice(_ATTACHMENTS)
            size = max(400, int(attach_bytes / count / 1.37 * rng.uniform(0.7, 1.3)))
            data = rng.randbytes(size) if ctype != "text/csv" else self._csv(size)
            encoded = base64.encodebytes(data).decode()
            parts.append(
                f'Content-Type: {ctype}; name="{name}"\n'
                f'Content-Disposition: attachment; filename="{name}"\n'
                "Content-Transfer-Encoding: base64\n\n" + encoded
            )
        return self._multipart("mixed", parts, boundary)

    def _csv(self, size: int) -> bytes:
        rows = ["order,date,total"]
        while sum(len(r) + 1 for r in rows) < size:
            rows.append(
                f"{self.rng.randint(10000, 99999)},2026-01-0{self.rng.randint(1, 9)},"
                f"{self.rng.randint(1, 999)}.{self.rng.randint(0, 99):02d}"
            )
        return "\n".join(rows).encode()

    def _single(self, ctype: str, body: str, charset: str) -> str:
        return _part(ctype, body, charset, qp=self.rng.random() < 0.3)

    def _multipart(self, subtype: str, parts: list[str], boundary: str) -> str:
        inner = "".join(f"--{boundary}\n{p.rstrip(chr(10))}\n" for p in parts)
        return (
            f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'
            f"This is a multi-part message in MIME format.\n\n{inner}--{boundary}--\n"
        )


def _wrap(text: str, width: int = 76) -> str:
    """Hard-wrapped at `width`, as mail clients send plain text."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(lines)


def _display(name: str) -> str:
    """A display name as mail clients write it: RFC 2047 when it isn't ASCII."""
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        return "=?utf-8?b?" + base64.b64encode(name.encode()).decode() + "?="
    return f'"{name}"'


def _html(text: str) -> str:
    paras = []
    quoted: list[str] = []
    for para in text.split("\n\n"):
        if (para.startswith("On ") and "wrote:" in para) or para.startswith("> "):
            quoted.append(para.replace("\n", "<br>\n"))
        else:
            paras.append(f'<p style="margin:0 0 12px 0">{para}</p>')
    history = (
        '<div class="gmail_quote"><blockquote style="margin:0 0 0 .8ex;border-left:1px '
        'solid #ccc;padding-left:1ex">' + "\n".join(quoted) + "</blockquote></div>"
        if quoted
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta http-equiv="Content-Type" content="text/html; '
        'charset=utf-8"></head>\n<body><div dir="ltr" style="font-family:Arial,sans-serif;'
        'font-size:14px">\n' + "\n".join(paras) + "\n<table><tr><td><b>Sent from my phone</b>"
        "</td></tr></table></div>\n" + history + "\n</body></html>"
    )


def _part(ctype: str, body: str, charset: str, qp: bool = False) -> str:
    if qp:
        data = quopri.encodestring(body.encode(charset, "replace")).decode("ascii")
        cte = "quoted-printable"
    else:
        data = body
        cte = "8bit"
    return f"Content-Type: {ctype}; charset={charset}\nContent-Transfer-Encoding: {cte}\n\n{data}\n"


def as_crlf(raw: bytes) -> bytes:
    """The bytes an IMAP client gets for a Maildir file (and sends with APPEND)."""
    return raw.replace(b"\n", b"\r\n")


def write_maildir(
    maildir: Path, mails: Iterator[Mail], owner: tuple[int, int] | None
) -> tuple[int, int]:
    """Write `mails` into `maildir/cur` as Dovecot would have; returns (count, bytes)."""
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    if owner is not None:
        for path in (maildir.parent, maildir, *(maildir / s for s in ("cur", "new", "tmp"))):
            os.chown(path, *owner)
    cur = maildir / "cur"
    count = total = 0
    pid = os.getpid()
    for mail in mails:
        count += 1
        size = len(mail.raw)
        vsize = size + mail.raw.count(b"\n")
        stamp = int(mail.date.timestamp())
        # Dovecot's own pattern; the time first, so name order is arrival order.
        name = f"{stamp}.M{count:06d}P{pid}.bench,S={size},W={vsize}:2,"
        path = cur / name
        path.write_bytes(mail.raw)
        os.utime(path, (stamp, stamp))
        if owner is not None:
            os.chown(path, *owner)
        total += vsize
    return count, total
