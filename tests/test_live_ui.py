"""The browser socket (/ws): HTML fragments for each open page, live and resumable.

A real uvicorn server in the test's loop; agents sign in through the real
login form, open a page, and connect to the socket URL that page embeds.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
import websockets
from starlette.applications import Starlette

from inbox.actions.agents import do_deactivate_agent
from inbox.actions.conversations import do_claim_conversation
from inbox.actions.customers import do_add_customer_note
from inbox.actions.housekeeping import do_prune_outbox
from inbox.actions.inboxes import do_set_inbox_active
from inbox.actions.messages import do_post_note
from inbox.channels.ingest import ingest
from inbox.events import Audience, InboxAccessChanged, Published
from inbox.realtime.once import OnceCache
from inbox.realtime.render import Renderer
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.helpers import inbound
from tests.live import serve


@pytest.fixture
async def base_url(app: Starlette) -> AsyncIterator[str]:
    async with serve(app) as url:
        yield url


@dataclass
class Agent:
    http: httpx.AsyncClient
    cookie: str
    base_url: str

    async def socket_url(self, path: str) -> str:
        """The ws-connect URL of the page at `path`, as the browser would use it."""
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        found = re.search(r'ws-connect="([^"]+)"', page.text)
        assert found, "the page has no live socket"
        return self.base_url.replace("http://", "ws://") + html.unescape(found.group(1))

    @asynccontextmanager
    async def watch(self, path: str) -> AsyncIterator[Any]:
        url = await self.socket_url(path)
        async with websockets.connect(
            url,
            additional_headers={"Cookie": f"inbox_session={self.cookie}"},
            origin=self.base_url,  # type: ignore[arg-type]
        ) as ws:
            await caught_up(ws)
            yield ws


@asynccontextmanager
async def signed_in(base_url: str, who: str) -> AsyncIterator[Agent]:
    async with httpx.AsyncClient(base_url=base_url) as http:
        await login(http, f"{who}@example.test")
        yield Agent(http, http.cookies["inbox_session"], base_url)


class TopLevel(HTMLParser):
    """The top-level elements of a batch: one out-of-band swap each."""

    VOID = frozenset({"input", "br", "img", "hr", "meta", "link", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, dict[str, str]]] = []
        self.attrs_seen: list[tuple[str, str]] = []
        self.tags_seen: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags_seen.append(tag)
        self.attrs_seen.extend(values.items())
        if self._depth == 0:
            self.ops.append((tag, values))
        if tag not in self.VOID:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        self._depth -= 1


def parse(batch: str) -> TopLevel:
    parser = TopLevel()
    parser.feed(batch)
    return parser


def oob(batch: str) -> list[tuple[str, str]]:
    """(swap, id or target) for each swap in the batch, the seq marker left out."""
    return [
        (attrs.get("hx-swap-oob", ""), attrs.get("id", ""))
        for _, attrs in parse(batch).ops
        if attrs.get("id") != "live-seq"
    ]


def seq_of(batch: str) -> int:
    marker = [a for _, a in parse(batch).ops if a.get("id") == "live-seq"]
    assert marker, batch
    return int(marker[-1]["data-seq"])


def is_presence(batch: str) -> bool:
    """Presence is pushed between events, without a seq marker; events always end with one."""
    return all(a.get("id") != "live-seq" for _, a in parse(batch).ops)


async def recv(ws: Any, within: float = 5.0) -> str:
    """The next event batch with something in it besides the seq marker (heartbeats).

    Colleagues' presence, which comes and goes as sockets open, is skipped.
    """
    async with asyncio.timeout(within):
        while True:
            batch = await ws.recv()
            assert isinstance(batch, str)
            if oob(batch) and not is_presence(batch):
                return batch


async def recv_presence(ws: Any, within: float = 5.0) -> str:
    """The next presence batch, events skipped."""
    async with asyncio.timeout(within):
        while True:
            batch = await ws.recv()
            assert isinstance(batch, str)
            if is_presence(batch):
                return batch


async def caught_up(ws: Any) -> int:
    """Waits for the marker that ends the replay; returns its seq."""
    async with asyncio.timeout(5):
        batch = await ws.recv()
    assert not oob(batch), batch
    return seq_of(batch)


async def quiet(ws: Any, seconds: float = 0.3) -> bool:
    try:
        await recv(ws, seconds)
    except TimeoutError:
        return True
    return False


def renderer(app: Starlette) -> Renderer:
    found = app.state.live_renderer
    assert isinstance(found, Renderer)
    return found


async def test_an_inbound_message_reaches_every_list_that_may_show_it(
    base_url: str, rt: Runtime, world: World
) -> None:
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        signed_in(base_url, "olga") as olga,
        ana.watch("/") as ana_ws,
        ben.watch("/?view=unassigned") as ben_ws,
        olga.watch("/") as olga_ws,
    ):
        received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
        conv_id = received.message.conversation_id
        for ws in (ana_ws, ben_ws):
            created = await recv(ws)
            # Put first in the list (after removing any copy), and the tabs recounted.
            assert oob(created) == [
                ("delete", f"conv-{conv_id}"),
                ("afterbegin:#conv-list", ""),
                ("true", "count-mine"),
                ("true", "count-unassigned"),
                ("true", "count-all"),
            ]
            assert re.search(r'id="count-all"[^>]*>1<', created)
            assert "Maria Lopez" in created and "Unassigned" in created
            message = await recv(ws)
            assert oob(message)[:2] == [
                ("delete", f"conv-{conv_id}"),
                ("afterbegin:#conv-list", ""),
            ]
            assert seq_of(message) == seq_of(created) + 1
        # Olga's team can't see the Support inbox: nothing is rendered for her.
        assert await quiet(olga_ws)


async def test_a_claim_updates_rows_counts_and_the_header_for_colleagues(
    base_url: str, rt: Runtime, world: World
) -> None:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    async with (
        signed_in(base_url, "ana") as ana,
        ana.watch("/") as all_ws,
        ana.watch("/?view=unassigned") as unassigned_ws,
        ana.watch(f"/conversations/{conv_id}") as page_ws,
    ):
        await do_claim_conversation(rt, world.ben, conv_id)
        # Updated in place where it still belongs...
        row = await recv(all_ws)
        assert oob(row)[:2] == [("true", f"conv-{conv_id}"), ("afterbegin:#conv-list", "")]
        assert f'data-live-absent="conv-{conv_id}"' in row
        assert re.search(r'class="conv-assignee">Ben<', row)
        assert re.search(r'id="count-unassigned"[^>]*>0<', row)
        # ...and taken out where it no longer does.
        gone = await recv(unassigned_ws)
        assert oob(gone)[0] == ("delete", f"conv-{conv_id}")
        assert "afterbegin" not in gone
        header = await recv(page_ws)
        assert ("true", "conv-header") in oob(header)
        assert re.search(r'id="assignee-name"[^>]*>Ben<', header)
        # Ana is neither the assignee nor a lead: no buttons that would fail.
        assert ">Claim<" not in header and ">Release<" not in header


async def test_a_note_reaches_the_timeline_of_whoever_views_that_customer(
    base_url: str, rt: Runtime, world: World
) -> None:
    maria = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    maria_chat = await ingest(
        rt, inbound(world.chat_inbox.id, chat_id="v-1", email="maria@example.test")
    )
    tom = await ingest(rt, inbound(world.email_inbox.id, email="tom@example.test", name="Tom"))
    conv_id = maria.message.conversation_id
    assert maria_chat.message.customer_id == maria.message.customer_id
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        ana.watch(f"/conversations/{conv_id}") as ana_ws,
        ana.watch(f"/customers/{maria.message.customer_id}") as customer_ws,
        ben.watch(f"/conversations/{tom.message.conversation_id}") as ben_ws,
    ):
        note = await do_post_note(rt, world.lead, conv_id, "Parcel left the warehouse on Monday.")
        batch = await recv(ana_ws)
        # Replaced if the page has it (the author's own page), appended if not.
        assert oob(batch)[:2] == [("true", f"m-{note.id}"), ("beforeend:#timeline-items", "")]
        assert f'data-live-absent="m-{note.id}"' in batch
        assert "Parcel left the warehouse" in batch and "is-current" in batch
        assert ("true", "profile-conversations") in oob(batch)
        # The customer page shows the same entry, without a conversation in focus.
        on_customer = await recv(customer_ws)
        assert "Parcel left the warehouse" in on_customer and "is-current" not in on_customer
        # The other channel's conversation of the same customer is marked as such.
        other = await do_post_note(rt, world.lead, maria_chat.message.conversation_id, "Chat too")
        assert "is-other" in await recv(ana_ws)
        assert f"m-{other.id}" in await recv(customer_ws)
        # The profile panel follows notes on the customer.
        await do_add_customer_note(rt, world.lead, maria.message.customer_id, "Prefers email")
        notes = await recv(ana_ws)
        assert oob(notes) == [("true", "customer-notes")]
        assert "Prefers email" in notes
        # Ben is looking at another customer: none of this is his page's business.
        assert await quiet(ben_ws)


async def test_resuming_with_since_replays_exactly_what_was_missed(
    base_url: str, rt: Runtime, world: World
) -> None:
    async with signed_in(base_url, "ana") as ana:
        url = await ana.socket_url("/")
        headers = {"Cookie": f"inbox_session={ana.cookie}"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            await caught_up(ws)
            await ingest(rt, inbound(world.email_inbox.id, email="a@example.test"))
            await recv(ws)  # conversation.created
            last = seq_of(await recv(ws))  # message.created
        # While the page was away: two conversations for it, one it can't see.
        missed = [
            (await ingest(rt, inbound(world.email_inbox.id, email=f"b{n}@example.test")))
            for n in range(2)
        ]
        await ingest(rt, inbound(world.sales_inbox.id, phone="+34600000001"))
        resume = re.sub(r"since=\d+", f"since={last}", url)
        async with websockets.connect(resume, additional_headers=headers) as ws:
            replayed = [await ws.recv() for _ in range(4)]
            assert isinstance(replayed[0], str)
            end = await caught_up(ws)
            assert await quiet(ws)
    seqs = [seq_of(str(b)) for b in replayed]
    assert seqs == sorted(set(seqs)) and seqs[0] > last and end >= seqs[-1]
    rows = [oob(str(b))[0][1] for b in replayed]
    ids = [m.message.conversation_id for m in missed]
    assert rows == [f"conv-{ids[0]}", f"conv-{ids[0]}", f"conv-{ids[1]}", f"conv-{ids[1]}"]


async def test_each_fragment_is_rendered_once_for_all_sockets_of_an_audience(
    app: Starlette, base_url: str, rt: Runtime, world: World
) -> None:
    first = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_path = f"/conversations/{first.message.conversation_id}"
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        ana.watch("/") as l1,
        ana.watch("/") as l2,
        ben.watch("/") as l3,
        ben.watch("/") as l4,
        ana.watch(conv_path) as c1,
        ben.watch(conv_path) as c2,
        ben.watch(conv_path) as c3,
    ):
        renderer(app).renders.clear()
        # A follow-up on the same conversation: one message.created event.
        await ingest(
            rt, inbound(world.email_inbox.id, email="maria@example.test", text="Any news?")
        )
        lists = [await recv(ws) for ws in (l1, l2, l3, l4)]
        pages = [await recv(ws) for ws in (c1, c2, c3)]
    assert len(set(lists)) == 1 and len(set(pages)) == 1  # the very same bytes
    assert "Any news?" in pages[0]
    # Seven sockets, four fragments, four renders.
    assert renderer(app).renders == {"row": 1, "message": 1, "conversations": 1, "metrics": 1}


async def test_customer_supplied_text_stays_inert_in_live_fragments(
    base_url: str, rt: Runtime, world: World
) -> None:
    hostile = '<script>alert(1)</script><b hx-get="/logout" hx-trigger="load">Eve</b>'
    async with signed_in(base_url, "ana") as ana, ana.watch("/") as ws:
        received = await ingest(
            rt,
            inbound(
                world.email_inbox.id,
                email="eve@example.test",
                name=hostile,
                text=hostile,
                html=f'<p hx-get="/logout" onclick="x()">hi</p>{hostile}',
            ),
        )
        batches = [await recv(ws), await recv(ws)]
        async with ana.watch(f"/conversations/{received.message.conversation_id}") as page_ws:
            await do_post_note(rt, world.lead, received.message.conversation_id, hostile)
            batches.append(await recv(page_ws))
    for batch in batches:
        parsed = parse(batch)
        assert "script" not in parsed.tags_seen
        assert "&lt;script&gt;" in batch
        names = {name for name, _ in parsed.attrs_seen}
        assert not {n for n in names if n.startswith("on")}
        assert names & {"hx-get", "hx-post", "hx-trigger", "hx-on"} == set()


async def test_refused_sockets_say_why(base_url: str, rt: Runtime, world: World) -> None:
    olgas = await ingest(rt, inbound(world.sales_inbox.id, phone="+34600000001"))
    ws_base = base_url.replace("http://", "ws://")
    async with signed_in(base_url, "ana") as ana:
        cookie = {"Cookie": f"inbox_session={ana.cookie}"}
        cases: list[tuple[str, dict[str, str], int]] = [
            ("/ws?page=list&since=0", {}, 4401),
            ("/ws?page=list&view=nope&since=0", cookie, 4400),
            ("/ws?page=elsewhere&since=0", cookie, 4400),
            ("/ws?page=list&since=-1", cookie, 4400),
            # A conversation Ana can't see is refused like one that doesn't exist.
            (f"/ws?page=conversation&conversation={olgas.message.conversation_id}", cookie, 4400),
            ("/ws?page=customer&customer=999999", cookie, 4400),
        ]
        for path, headers, code in cases:
            async with websockets.connect(ws_base + path, additional_headers=headers) as ws:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == code, path
        # A page on another site can't open a socket that rides on the cookie.
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(
                await ana.socket_url("/"),
                additional_headers=cookie,
                origin="http://evil.example",  # type: ignore[arg-type]
            ):
                pass


async def test_a_deactivated_agents_socket_is_closed(
    base_url: str, rt: Runtime, world: World
) -> None:
    async with signed_in(base_url, "ben") as ben, ben.watch("/") as ws:
        await do_deactivate_agent(rt, world.admin, world.ben.id)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4410


async def test_a_too_old_since_or_an_access_change_marks_the_page_out_of_date(
    base_url: str, rt: Runtime, world: World
) -> None:
    async with signed_in(base_url, "ana") as ana:
        url = await ana.socket_url("/")
        await ingest(rt, inbound(world.email_inbox.id, email="a@example.test"))
        assert await do_prune_outbox(rt, older_than=timedelta(0)) > 0
        await ingest(rt, inbound(world.email_inbox.id, email="b@example.test"))
        async with websockets.connect(
            re.sub(r"since=\d+", "since=1", url),
            additional_headers={"Cookie": f"inbox_session={ana.cookie}"},
        ) as ws:
            stale = await recv(ws)
            assert oob(stale) == [("true", "live-status")]
            assert 'data-state="stale"' in stale
            await rt.hub.publish(
                Published(
                    seq_of(stale) + 100,
                    InboxAccessChanged(inbox_id=world.email_inbox.id),
                    Audience(frozenset({world.ana.id})),
                )
            )
            assert 'data-state="stale"' in await recv(ws)


async def test_a_slow_page_is_dropped_without_holding_anyone_up(
    base_url: str, rt: Runtime, world: World
) -> None:
    rt.hub._queue_size = 5
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        ana.watch("/") as ws,
        ben.watch("/") as ben_ws,
    ):
        start = (rt.hub.last_seq or 0) + 1
        # A burst faster than the socket is served, all in one go.
        for seq in range(start, start + 50):
            await rt.hub.publish(
                Published(seq, InboxAccessChanged(inbox_id=1), Audience(frozenset({world.ana.id})))
            )
        batches = 0
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await recv(ws)
                batches += 1
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
        assert batches < 50
        # Ben's page, open all along, still gets what comes next.
        await rt.hub.publish(
            Published(
                start + 50, InboxAccessChanged(inbox_id=1), Audience(frozenset({world.ben.id}))
            )
        )
        assert "live-status" in await recv(ben_ws)


async def test_the_fragment_cache_computes_once_and_survives_a_caller_leaving() -> None:
    cache: OnceCache[str, str] = OnceCache(8)
    started = 0
    release = asyncio.Event()

    async def render() -> str:
        nonlocal started
        started += 1
        await release.wait()
        return "<li>x</li>"

    callers = [asyncio.create_task(cache.get("k", render)) for _ in range(5)]
    await asyncio.sleep(0)
    callers[0].cancel()  # one socket closes mid-render
    release.set()
    results = await asyncio.gather(*callers[1:])
    assert results == ["<li>x</li>"] * 4 and started == 1
    assert await cache.get("k", render) == "<li>x</li>" and started == 1


async def test_the_fragment_cache_forgets_failures_and_stays_within_its_bounds() -> None:
    cache: OnceCache[int, str] = OnceCache(3, max_weight=10, weigh=len)

    async def broken() -> str:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        await cache.get(1, broken)
    assert len(cache) == 0  # the next caller tries again

    def fixed(text: str) -> Any:
        async def compute() -> str:
            return text

        return compute

    for key in range(5):
        await cache.get(key, fixed("abcd"))
    assert len(cache) == 2 and cache.weight == 8  # 3 entries would weigh 12 > 10
    await cache.get(9, fixed("x" * 50))
    assert len(cache) == 1  # the newest stays, however heavy


async def test_the_bell_rings_live_for_the_mentioned_agent_only(
    base_url: str, rt: Runtime, world: World
) -> None:
    from inbox.actions.messages import do_post_note_with_mentions
    from inbox.actions.notifications import do_mark_all_notifications_read

    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        ben.watch("/") as ben_list,
        ben.watch(f"/conversations/{conv_id}") as ben_page,
        ana.watch("/") as ana_list,
    ):

        async def bell(ws: Any) -> str:
            """The next bell pushed (the note itself comes too, as a message)."""
            while True:
                batch = await recv(ws)
                if ("true", "notif-bell") in oob(batch):
                    return batch

        await do_post_note_with_mentions(rt, world.ana, conv_id, "@Ben can you check?")
        for ws in (ben_list, ben_page):
            rang = await bell(ws)
            assert 'data-count="1"' in rang and "1 unread notification" in rang
        await do_post_note_with_mentions(rt, world.ana, conv_id, "@Ben and again")
        assert 'data-count="2"' in await bell(ben_list)
        await do_mark_all_notifications_read(rt, world.ben)
        assert "bell-count" not in await bell(ben_list)
        # Ana's bell never moved: the notes were hers, the mentions Ben's.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(bell(ana_list), 0.5)


async def test_a_password_change_ends_the_agents_pages_at_the_next_heartbeat(
    base_url: str, rt: Runtime, world: World
) -> None:
    from inbox.actions.agents import do_set_password

    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        ana.watch("/") as ana_ws,
        ben.watch("/") as ben_ws,
    ):
        await do_set_password(rt, world.admin, world.ana.id, "a-brand-new-passphrase")
        await rt.hub.heartbeat()  # as every process does every HEARTBEAT_SECONDS
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ana_ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        # Ben's session is untouched: his idle page just hears the heartbeat.
        assert oob(await ben_ws.recv()) == []


async def test_deactivating_an_inbox_redraws_an_open_composer_of_it(
    base_url: str, rt: Runtime, world: World
) -> None:
    # The agent typing a reply learns at once that it can't go out, and when it can again.
    first = await ingest(rt, inbound(world.chat_inbox.id, chat_id="v-off", text="Still there?"))
    url = f"/conversations/{first.message.conversation_id}"
    async with signed_in(base_url, "ana") as ana, ana.watch(url) as ws:
        await do_set_inbox_active(rt, world.admin, world.chat_inbox.id, False)
        batch = await recv(ws)
        assert 'data-state="stale"' in batch
        notice = re.search(r'<p id="composer-inactive"[^>]*>([^<]*)</p>', batch)
        assert notice is not None and "deactivated" in notice.group(1)
        send = re.search(r'<button id="send-reply"[^>]*>', batch)
        assert send is not None and "hx-swap-oob" in send.group(0) and "disabled" in send.group(0)

        await do_set_inbox_active(rt, world.admin, world.chat_inbox.id, True)
        batch = await recv(ws)
        assert "composer-inactive" not in batch
        send = re.search(r'<button id="send-reply"[^>]*>', batch)
        assert send is not None and "disabled" not in send.group(0)
