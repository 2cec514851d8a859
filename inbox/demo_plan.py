"""Planning the demo: who writes what, on which channel, and when.

Pure functions of a seeded random.Random and "now", so every run of
`inbox demo` plans the same team history relative to the moment it runs.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from inbox import demo_data as data
from inbox.demo_data import Country, InboxSeed, Product, Script, Turn
from inbox.models import ChannelKind, Role
from inbox.profiles.identities import IdentityRef, ref

BY_KEY = {seed.key: seed for seed in data.INBOXES}


@dataclass
class PlannedPurchase:
    reference: str
    description: str
    amount: float
    currency: str
    status: str
    purchased_at: datetime


@dataclass
class PlannedCustomer:
    name: str
    first: str
    country: Country
    email: str
    # Identities known before any message; a chat visitor id is learned on ingest.
    handles: dict[str, str]
    attributes: dict[str, str]
    tags: tuple[str, ...]
    used_inboxes: set[str] = field(default_factory=set)
    handler: str = data.LEAD
    note: str = ""
    id: int | None = None

    def identities(self) -> list[IdentityRef]:
        refs = [ref("email", self.email)]
        refs += [ref(kind, value) for kind, value in self.handles.items() if kind != "live_chat"]
        return refs


@dataclass(frozen=True)
class Step:
    at: datetime
    kind: str  # a Turn kind, or "claim" / "assign"
    agent: str
    text: str


@dataclass
class PlannedConversation:
    customer: PlannedCustomer
    inbox: InboxSeed
    subject: str
    steps: list[Step]
    final: str  # "open", "pending" or "resolved"
    purchases: list[PlannedPurchase] = field(default_factory=list)


def plan_demo(rng: random.Random, now: datetime, total: int) -> list[PlannedConversation]:
    plans = _story_plans(now)
    customers: list[PlannedCustomer] = []
    taken = {value for story in data.STORIES for value in story.handles.values()}
    orders = itertools.count(18204, 7)
    topics: list[str] = []
    for i in range(max(0, total - len(plans))):
        if not topics:  # every topic once per round, in a shuffled order
            topics = sorted(data.SCRIPTS)
            rng.shuffle(topics)
        key = topics.pop()
        script = data.SCRIPTS[key]
        eligible = [c for c in customers if _free_inboxes(c, script)]
        # Reusing a customer on another channel is what makes timelines cross channels.
        if eligible and rng.random() < 0.4:
            customer = rng.choice(eligible)
        else:
            customer = _new_customer(rng, taken)
            customers.append(customer)
        free = _free_inboxes(customer, script)
        # Chat and messaging get more traffic than email, as in most shops now.
        weights = [{"email": 1, "live_chat": 4}.get(box.identity, 2) for box in free]
        inbox = rng.choices(free, weights)[0]
        customer.used_inboxes.add(inbox.key)
        state = data.STATES[i % len(data.STATES)]
        order = f"FW-{next(orders)}"
        plans.append(_conversation(rng, now, customer, inbox, key, state, order))
    for customer in customers:
        if rng.random() < 0.35:
            customer.note = rng.choice(data.CUSTOMER_NOTES)
    # Oldest first, so the outbox reads roughly like the history it describes.
    return sorted(plans, key=lambda p: p.steps[0].at)


def _story_plans(now: datetime) -> list[PlannedConversation]:
    plans = []
    for story in data.STORIES:
        country = next(c for c in data.COUNTRIES if c.code == story.country)
        first, (handler, note) = story.name.split()[0], story.note
        customer = PlannedCustomer(
            story.name, first, country, story.email, dict(story.handles), story.attributes,
            story.tags, handler=handler, note=note,
        )  # fmt: skip
        bought = now - timedelta(hours=max(s[0] for s in story.steps), days=9)
        purchase = PlannedPurchase(
            story.order, story.product, story.amount, country.currency, "completed", bought
        )
        # One conversation per inbox the story touches, in order of first contact.
        for n, key in enumerate(dict.fromkeys(step[1] for step in story.steps)):
            steps = [
                Step(now - timedelta(hours=hours), kind, agent, text)
                for hours, inbox_key, kind, agent, text in story.steps
                if inbox_key == key
            ]
            subject = story.subjects.get(key, "")
            plan = PlannedConversation(customer, BY_KEY[key], subject, steps, story.finals[key])
            if n == 0:
                plan.purchases.append(purchase)
            plans.append(plan)
    return plans


def _free_inboxes(customer: PlannedCustomer, script: Script) -> list[InboxSeed]:
    """Inboxes for this kind of request that reach the customer and they haven't used yet.

    One conversation per customer and inbox keeps ingest from threading a new
    request into an older, still open one.
    """
    return [
        inbox
        for inbox in data.INBOXES
        if script.category in inbox.category
        and (inbox.identity == "email" or inbox.identity in customer.handles)
        and inbox.key not in customer.used_inboxes
    ]


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum()).lower()


def _digits(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in pattern)


def _new_customer(rng: random.Random, taken: set[str]) -> PlannedCustomer:
    country = rng.choice(data.COUNTRIES)
    while True:
        first = rng.choice(country.first_names.split())
        last = rng.choice(country.last_names.split())
        phone = _digits(rng, country.phone)
        if f"{first} {last}" not in taken and phone not in taken:
            break
    taken.update({f"{first} {last}", phone})
    candidates = {
        "whatsapp": phone,
        "phone": phone,
        "live_chat": f"visitor-{rng.getrandbits(40):010x}",
        "telegram": str(rng.randrange(10**9, 8 * 10**9)),
        "instagram": f"{_ascii(first)}.{_ascii(last)}{rng.randrange(10, 99)}",
    }
    handles = {k: v for k, v in candidates.items() if rng.random() < data.CHANNEL_ODDS[k]}
    email = f"{_ascii(first)}.{_ascii(last)}@{rng.choice(data.EMAIL_DOMAINS)}"
    attributes = {
        "plan": rng.choice(data.PLANS),
        "country": country.code,
        "language": country.language,
        "customer_since": str(rng.randrange(2018, 2025)),
    }
    tags = tuple(rng.sample(data.TAGS, rng.choice((0, 0, 1, 1, 2))))
    return PlannedCustomer(f"{first} {last}", first, country, email, handles, attributes, tags)


def _cut(turns: tuple[Turn, ...], state: str) -> list[Turn]:
    """The part of a script that has happened by the time it is in `state`."""
    first_agent = next(i for i, (kind, _) in enumerate(turns) if kind != "c")
    ask = next(i for i, (kind, _) in enumerate(turns) if kind == "ask")
    ends = {"unassigned": first_agent, "pending": ask + 1, "assigned": ask + 2}
    return list(turns[: ends.get(state, len(turns))])


def _gap(rng: random.Random, kind: str, chat: bool) -> timedelta:
    chat_gap, email_gap = data.GAPS["a" if kind == "ask" else kind]
    return timedelta(minutes=rng.uniform(*(chat_gap if chat else email_gap)))


def _conversation(
    rng: random.Random,
    now: datetime,
    customer: PlannedCustomer,
    inbox: InboxSeed,
    key: str,
    state: str,
    order: str,
) -> PlannedConversation:
    script = data.SCRIPTS[key]
    country = customer.country
    product = rng.choice([p for p in data.PRODUCTS if p.apparel == script.apparel])
    sign = data.CURRENCY_SIGNS[country.currency]
    agents = [a.key for a in data.AGENTS if a.role is Role.AGENT and data.sees(a.key, inbox)]
    agent = rng.choice(agents)
    start = now - timedelta(hours=rng.uniform(*data.AGES[state]))
    morning = start.replace(hour=rng.randrange(7, 11))
    if start.hour < 7 and morning < now:
        start = morning  # customers write at night, but the team starts at 7
    city = rng.choice(country.cities.split())
    address = f"{rng.randrange(2, 120)} {rng.choice(data.STREETS)}, {city}"
    values = {
        "first": customer.first,
        "email": customer.email,
        "order": order,
        "product": product.name,
        "amount": f"{sign}{product.price:.2f}",
        "carrier": country.carrier,
        "tracking": _digits(rng, "############"),
        "address": address,
        "new_address": f"{rng.randrange(2, 120)} {rng.choice(data.STREETS)}",
        "last4": _digits(rng, "####"),
        "lead": data.LEAD.capitalize(),
        "company": rng.choice(data.COMPANIES),
        "vat": country.code + _digits(rng, "#########"),
        "invoice": f"INV-{start.year}-{order[3:]}",
        "renewal": f"{(now + timedelta(days=rng.randrange(4, 28))):%d %B}".lstrip("0"),
        "shop": data.SHOP,
    }
    turns = _cut(script.turns, state)
    if state == "unassigned" and rng.random() < 0.4:
        turns.append(("c", tuple(data.FOLLOW_UPS)))
    mode = rng.choice(("reply", "reply", "claim", "assign"))
    if state == "assigned" and rng.random() < 0.35:
        # Handed over by the lead and not answered yet.
        turns, mode = _cut(script.turns, "unassigned"), "assign"
    if state != "unassigned" and mode != "reply":
        first_agent = next((i for i, (kind, _) in enumerate(turns) if kind != "c"), len(turns))
        turns.insert(first_agent, (mode, ""))
    return PlannedConversation(
        customer,
        inbox,
        script.subject.format(**values) if inbox.channel is ChannelKind.EMAIL else "",
        _timed_steps(rng, now, start, customer, inbox, agent, turns, values),
        {"unassigned": "open", "assigned": "open"}.get(state, state),
        [_purchase(rng, start, key, state, order, product, country)],
    )


def _timed_steps(
    rng: random.Random,
    now: datetime,
    start: datetime,
    customer: PlannedCustomer,
    inbox: InboxSeed,
    agent: str,
    turns: list[Turn],
    values: dict[str, str],
) -> list[Step]:
    """Turns with their text filled in, dressed for the channel, and times that add up."""
    chat = inbox.channel is not ChannelKind.EMAIL
    agent_first = next(a.name for a in data.AGENTS if a.key == agent).split()[0]
    steps: list[Step] = []
    at = start
    for kind, options in turns:
        text = rng.choice(options) if isinstance(options, tuple) else options
        if not chat:
            text = text.replace(", {first}", "")  # the email greeting already names them
        text = text.format(**values)
        if steps:
            at += _gap(rng, kind, chat)
        if not chat and kind == "c":
            text = f"{text}\n\n{customer.first}"
        elif not chat and kind in ("a", "ask"):
            signature = f"Best regards,\n{agent_first}\n{data.SHOP} Customer Care"
            text = f"Hi {customer.first},\n\n{text}\n\n{signature}"
        who = data.LEAD if kind == "lead" else agent
        steps.append(Step(at, kind, who, text))
    # Keep the whole conversation in the past, however the gaps added up.
    overshoot = steps[-1].at - (now - timedelta(minutes=rng.uniform(2, 15)))
    if overshoot > timedelta(0):
        steps = [Step(s.at - overshoot, s.kind, s.agent, s.text) for s in steps]
    if any(s.kind != "c" for s in steps):
        customer.handler = agent  # the customer note is theirs to write
    return steps


def _purchase(
    rng: random.Random,
    start: datetime,
    key: str,
    state: str,
    order: str,
    product: Product,
    country: Country,
) -> PlannedPurchase:
    """The order the conversation is about, placed some days before it."""
    # Its state follows how the conversation about it ended.
    after = {"refund": "refunded", "exchange_size": "exchanged"}
    status = after.get(key, "completed") if state == "resolved" else "completed"
    description = product.name
    if key == "subscription_cancel":
        description = f"{data.SHOP} Plus membership, 12 months"
    purchased = start - timedelta(days=rng.uniform(1, 12))
    return PlannedPurchase(order, description, product.price, country.currency, status, purchased)
