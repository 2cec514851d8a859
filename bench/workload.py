"""What is measured: the read paths, their parameters, and one call of each.

Each path has a raw SQL form (the indexed statement alone, or every statement
one API request runs) and an HTTP form. Call `i` of a path uses the same
parameters in every form, so the figures compare like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench import statements as st
from bench.loadgen import Call
from bench.rawdb import RawDB
from bench.seed import Manifest
from inbox.auth import token_hash

PAGE = 25
TIMELINE_LIMIT = 50
# How deep "deep page" goes: page 40 is 1,000 conversations down the list.
DEEP_PAGE = 40

PATHS: dict[str, str] = {
    "list_first": "inbox list, first page",
    "list_deep": "inbox list, deep page (cursor)",
    "list_all": "inbox list, all inboxes (no inbox_id)",
    "timeline_typical": "timeline, typical customer",
    "timeline_long": "timeline, long-timeline customer",
}
# The target covers the contract's inbox list (one inbox) and the
# timeline; the all-inboxes list is measured for information.
TARGET_PATHS = ("list_first", "list_deep", "timeline_typical", "timeline_long")
HTTP_ONLY = {"healthz": "GET /healthz (framework floor: auth-free, SELECT 1)"}


@dataclass(frozen=True)
class DeepPage:
    inbox_id: int
    page: int
    cursor: tuple[Any, int]  # (last_activity_at, id) of the row just above the page
    first_id: int
    rows: int


@dataclass
class Workload:
    inbox_ids: list[int]
    agent_id: int
    token: str
    deep: list[DeepPage]
    typical: list[int]
    heavy: list[int]
    # Mean rows one response carries, by path: a small scale's short lists
    # return fewer rows, which is less work, and the ratios should say so.
    rows: dict[str, float]

    @property
    def token_hash(self) -> str:
        return token_hash(self.token)

    def describe(self) -> dict[str, Any]:
        return {
            "inbox_ids": self.inbox_ids,
            "deep_pages": [
                {"inbox_id": d.inbox_id, "page": d.page, "first_id": d.first_id} for d in self.deep
            ],
            "typical_customers": len(self.typical),
            "long_timeline_customers": len(self.heavy),
            "rows_per_response": self.rows,
        }


async def discover(db: RawDB, manifest: Manifest) -> Workload:
    """Walk each inbox's open list by keyset to find its deep page (up to DEEP_PAGE)."""
    deep = []
    for inbox_id in manifest.inbox_ids:
        cursor: tuple[Any, int] | None = None
        page = 1
        rows = await db.fetch(*st.list_page([inbox_id], limit=PAGE))
        while len(rows) > PAGE and page < DEEP_PAGE:
            last = rows[PAGE - 1]
            cursor = (last[st.LIST_AT], last[st.LIST_ID])
            page += 1
            rows = await db.fetch(*st.list_page([inbox_id], cursor, limit=PAGE))
        if cursor is not None:
            deep.append(DeepPage(inbox_id, page, cursor, rows[0][st.LIST_ID], min(len(rows), PAGE)))
    if not deep:
        raise RuntimeError("no inbox has a second page of open conversations")
    inbox_ids = sorted(manifest.inbox_ids)

    async def mean_rows(statements: list[st.Statement], limit: int) -> float:
        counts = [min(len(await db.fetch(*s)), limit) for s in statements]
        return round(sum(counts) / len(counts), 1)

    row_counts = {
        "list_first": await mean_rows([st.list_page([i], limit=PAGE) for i in inbox_ids], PAGE),
        "list_deep": round(sum(d.rows for d in deep) / len(deep), 1),
        "list_all": await mean_rows([st.list_page(inbox_ids, limit=PAGE)], PAGE),
    }
    for path, customers in (
        ("timeline_typical", manifest.typical_customer_ids),
        ("timeline_long", manifest.heavy_customer_ids),
    ):
        pages = [st.timeline_page(c, inbox_ids, limit=TIMELINE_LIMIT) for c in customers]
        row_counts[path] = await mean_rows(pages, TIMELINE_LIMIT)
    return Workload(
        inbox_ids=inbox_ids,
        agent_id=manifest.agent_id,
        token=manifest.token,
        deep=deep,
        typical=manifest.typical_customer_ids,
        heavy=manifest.heavy_customer_ids,
        rows=row_counts,
    )


def _pick(items: Sequence[Any], i: int) -> Any:
    return items[i % len(items)]


def sql_call(path: str, db: RawDB, wl: Workload, *, whole_request: bool) -> Call:
    """One call of `path` as raw SQL: the indexed statement, or the request's statements."""

    async def prelude() -> list[int]:
        # What every API request runs first: token lookup, then visible inboxes.
        await db.fetch(*st.auth(wl.token_hash))
        return sorted(r[0] for r in await db.fetch(*st.visible_inboxes(wl.agent_id)))

    async def listing(i: int) -> None:
        if path == "list_deep":
            page: DeepPage = _pick(wl.deep, i)
            inboxes, cursor = [page.inbox_id], page.cursor
        elif path == "list_all":
            inboxes, cursor = wl.inbox_ids, None
        else:
            inboxes, cursor = [_pick(wl.inbox_ids, i)], None
        if whole_request:
            await prelude()
        await db.fetch(*st.list_page(inboxes, cursor, limit=PAGE))

    async def timeline(i: int) -> None:
        customer_id = _pick(wl.typical if path == "timeline_typical" else wl.heavy, i)
        if not whole_request:
            await db.fetch(*st.timeline_page(customer_id, wl.inbox_ids, limit=TIMELINE_LIMIT))
            return
        visible = await prelude()
        await db.fetch(*st.customer(customer_id))
        await db.fetch(*st.visible_inboxes(wl.agent_id))
        await db.fetch(*st.customer_visible(customer_id, visible))
        await db.fetch(*st.visible_inboxes(wl.agent_id))
        rows = await db.fetch(*st.timeline_page(customer_id, visible, limit=TIMELINE_LIMIT))
        if rows:
            await db.fetch(*st.attachments([r[st.TIMELINE_ID] for r in rows]))
        await db.fetch(*st.all_inboxes())
        senders = sorted({r[st.TIMELINE_SENDER] for r in rows} - {None})
        if senders:
            await db.fetch(*st.agent_names(senders))

    return timeline if path.startswith("timeline") else listing


LIST_URL = "/api/v1/conversations"


def list_params(inbox_id: int | None, cursor: str | None = None) -> dict[str, str]:
    params = {"view": "all", "status": "open", "limit": str(PAGE)}
    if inbox_id is not None:
        params["inbox_id"] = str(inbox_id)
    if cursor:
        params["cursor"] = cursor
    return params


def timeline_url(customer_id: int) -> str:
    return f"/api/v1/customers/{customer_id}/timeline"


ApiPage = tuple[int, str]  # (inbox id, the API's opaque cursor)


async def api_deep_cursors(
    client: httpx.AsyncClient, wl: Workload
) -> tuple[list[ApiPage], list[str]]:
    """The API's own cursors for each deep page, by following next_cursor.

    Returns (pages, problems): a problem is a page whose first conversation
    differs from the raw SQL walk's, i.e. the API paginates differently.
    """
    pages: list[ApiPage] = []
    problems: list[str] = []
    for page in wl.deep:
        cursor: str | None = None
        for _ in range(page.page - 1):
            response = await client.get(LIST_URL, params=list_params(page.inbox_id, cursor))
            response.raise_for_status()
            cursor = response.json().get("next_cursor")
            if not cursor:
                break
        if not cursor:
            problems.append(f"inbox {page.inbox_id}: no cursor for page {page.page}")
            continue
        response = await client.get(LIST_URL, params=list_params(page.inbox_id, cursor))
        response.raise_for_status()
        first = (response.json().get("conversations") or [{}])[0].get("id")
        if first != page.first_id:
            problems.append(
                f"inbox {page.inbox_id} page {page.page}: API starts at {first}, "
                f"SQL at {page.first_id}"
            )
        pages.append((page.inbox_id, cursor))
    return pages, problems


def http_call(
    path: str, client: httpx.AsyncClient, wl: Workload, deep_pages: list[ApiPage]
) -> Call:
    async def get(url: str, params: dict[str, str] | None = None) -> None:
        response = await client.get(url, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")

    async def call(i: int) -> None:
        if path == "healthz":
            await get("/healthz")
        elif path == "list_first":
            await get(LIST_URL, list_params(_pick(wl.inbox_ids, i)))
        elif path == "list_deep":
            inbox_id, cursor = _pick(deep_pages, i)
            await get(LIST_URL, list_params(inbox_id, cursor))
        elif path == "list_all":
            await get(LIST_URL, list_params(None))
        else:
            ids = wl.typical if path == "timeline_typical" else wl.heavy
            await get(timeline_url(_pick(ids, i)), {"limit": str(TIMELINE_LIMIT)})

    return call
