"""`inbox demo`: a realistic support team, loaded only through actions and ingest.

Nothing here writes rows itself: agents, teams, inboxes, customers and
purchases are created by their `do_*` actions, customer messages go through
`ingest` like a connector's would, and replies, notes, claims and status
changes are the actions an agent would trigger. So the demo also fills the
audit log and the outbox, and looks exactly like a team that has been working.

The content is planned first, purely, from a seeded random.Random (so every
run loads the same demo, relative to "now"), and then executed.
"""

from __future__ import annotations

import random
import sys
from dataclasses import asdict, dataclass

import click
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from inbox import demo_data as data
from inbox.actions.agents import do_create_agent, do_create_team
from inbox.actions.conversations import do_assign_conversation, do_claim_conversation, do_set_status
from inbox.actions.customers import do_add_customer_note, do_add_purchase, do_create_customer
from inbox.actions.inboxes import do_create_inbox
from inbox.actions.messages import do_post_note, do_post_reply
from inbox.channels.base import InboundMessage
from inbox.channels.ingest import ingest
from inbox.config import Settings
from inbox.demo_data import InboxSeed
from inbox.demo_plan import PlannedConversation, PlannedCustomer, plan_demo
from inbox.models import Agent, Inbox, Role, Status, Team, utcnow
from inbox.profiles.identities import IdentityRef, ref
from inbox.runtime import Runtime, create_runtime


@dataclass
class World:
    agents: dict[str, Agent]
    teams: dict[str, Team]
    inboxes: dict[str, Inbox]


async def load_demo(settings: Settings, *, conversations: int = 60) -> None:
    """Load the demo team and `conversations` conversations (at least the scripted stories').

    Refuses with RuntimeError when the database already has agents.
    """
    rt = create_runtime(settings)
    try:
        await _refuse_if_loaded(rt)
        plans = plan_demo(random.Random(data.SEED), utcnow(), conversations)
        click.echo("Creating agents, teams and inboxes...", err=True)
        world = await _create_world(rt)
        with click.progressbar(plans, label="Loading conversations", file=sys.stderr) as bar:
            for number, plan in enumerate(bar):
                await _load_conversation(rt, world, plan, number)
        customers = {id(p.customer): p.customer for p in plans}.values()
        for customer in customers:
            if customer.note and customer.id is not None:
                author = world.agents[customer.handler]
                await do_add_customer_note(rt, author, customer.id, customer.note)
    finally:
        await rt.close()
    _print_summary(settings, len(plans), len(customers))


def _database_label(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or url
    return parsed.render_as_string(hide_password=True)


async def _refuse_if_loaded(rt: Runtime) -> None:
    # Any agent means someone already uses this database: adding a second demo
    # team (or one beside real people) would only confuse.
    async with rt.read_sessions() as session:
        agents = await session.scalar(select(func.count()).select_from(Agent))
    if agents:
        raise RuntimeError(
            f"demo data is already loaded in {_database_label(rt.settings.database_url)}; "
            "use a fresh INBOX_DATA_DIR or database"
        )


async def _create_world(rt: Runtime) -> World:
    agents = {}
    for person in data.AGENTS:
        created = await do_create_agent(
            rt, None, email=person.email, name=person.name, role=person.role, password=data.PASSWORD
        )
        agents[person.key] = created.agent
    teams = {
        name: await do_create_team(rt, None, name=name, member_ids=[agents[k].id for k in keys])
        for name, keys in data.TEAMS.items()
    }
    inboxes = {}
    for box in data.INBOXES:
        inboxes[box.key] = await do_create_inbox(
            rt,
            agents["admin"],
            name=box.name,
            channel=box.channel,
            # Marked so connectors and senders can tell these apart from real channels.
            config={**box.config, "demo": True},
            team_ids=[teams[t].id for t in box.teams],
            agent_ids=[agents[a].id for a in box.agents],
        )
    return World(agents, teams, inboxes)


async def _load_conversation(
    rt: Runtime, world: World, plan: PlannedConversation, number: int
) -> None:
    customer = plan.customer
    if customer.id is None:
        created = await do_create_customer(
            rt,
            None,
            name=customer.name,
            identities=customer.identities(),
            attributes=customer.attributes,
            tags=customer.tags,
        )
        customer.id = created.id
    for purchase in plan.purchases:
        await do_add_purchase(rt, None, customer.id, **asdict(purchase))
    inbox = world.inboxes[plan.inbox.key]
    conversation_id = 0
    assignee = ""
    for index, step in enumerate(plan.steps):
        if step.kind == "c":
            received = await ingest(
                rt,
                InboundMessage(
                    inbox_id=inbox.id,
                    external_id=f"demo-{number}-{index}",
                    identities=_inbound_identities(customer, plan.inbox),
                    text=step.text,
                    sender_name=customer.name,
                    subject=plan.subject if index == 0 else "",
                    received_at=step.at,
                ),
            )
            conversation_id = received.message.conversation_id
            continue
        agent = world.agents[step.agent]
        if step.kind == "claim":
            await do_claim_conversation(rt, agent, conversation_id)
        elif step.kind == "assign":
            team = next((t for t in plan.inbox.teams if step.agent in data.TEAMS[t]), None)
            await do_assign_conversation(
                rt,
                world.agents[data.LEAD],
                conversation_id,
                assignee_id=agent.id,
                team_id=world.teams[team].id if team else None,
            )
        elif step.kind in ("a", "ask"):
            await do_post_reply(rt, agent, conversation_id, step.text, at=step.at)
        else:
            await do_post_note(rt, agent, conversation_id, step.text, at=step.at)
        if step.kind in ("claim", "assign", "a", "ask"):
            assignee = step.agent
    if plan.final != "open":
        await do_set_status(rt, world.agents[assignee], conversation_id, Status(plan.final))


def _inbound_identities(customer: PlannedCustomer, inbox: InboxSeed) -> tuple[IdentityRef, ...]:
    if inbox.identity == "email":
        return (ref("email", customer.email),)
    channel_ref = ref(inbox.identity, customer.handles[inbox.identity])
    if inbox.identity == "live_chat":
        # The chat widget's pre-chat form asks for an email, which links the
        # new visitor id to the customer we already know.
        return (channel_ref, ref("email", customer.email))
    return (channel_ref,)


def _print_summary(settings: Settings, conversations: int, customers: int) -> None:
    click.echo(
        f"\nDemo data loaded into {_database_label(settings.database_url)}: {len(data.AGENTS)} "
        f"agents, {len(data.TEAMS)} teams, {len(data.INBOXES)} inboxes, {customers} customers, "
        f"{conversations} conversations."
    )
    click.echo(
        "\nRun `inbox serve` and sign in at http://127.0.0.1:8000/ with the password "
        f"{data.PASSWORD!r} as:\n"
    )
    rows = [("email", "role", "sees")]
    for person in data.AGENTS:
        names = [box.name for box in data.INBOXES if data.sees(person.key, box)]
        every = person.role is Role.ADMIN or len(names) == len(data.INBOXES)
        rows.append((person.email, person.role.value, "every inbox" if every else ", ".join(names)))
    width = max(len(email) for email, _, _ in rows)
    for email, role, shown in rows:
        click.echo(f"  {email:<{width}}  {role:<5}  {shown}")
