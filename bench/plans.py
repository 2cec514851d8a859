"""Query plans of the indexed statements, and whether they use the expected index."""

from __future__ import annotations

from typing import Any

from bench import statements as st
from bench.rawdb import RawDB
from bench.workload import PAGE, TIMELINE_LIMIT, Workload

EXPECTED_INDEX: dict[str, tuple[str, ...]] = {
    "list_first": ("ix_conversations_inbox_list",),
    "list_deep": ("ix_conversations_inbox_list",),
    # Either serves it: one range per inbox, or the status index filtered by inbox.
    "list_all": ("ix_conversations_status_list", "ix_conversations_inbox_list"),
    "timeline_typical": ("ix_messages_customer_timeline",),
    "timeline_long": ("ix_messages_customer_timeline",),
}


def representative(path: str, wl: Workload) -> st.Statement:
    """The statement of `path` with the parameters of its first call."""
    if path == "list_first":
        return st.list_page([wl.inbox_ids[0]], limit=PAGE)
    if path == "list_deep":
        page = wl.deep[0]
        return st.list_page([page.inbox_id], page.cursor, limit=PAGE)
    if path == "list_all":
        return st.list_page(wl.inbox_ids, limit=PAGE)
    customer = wl.typical[0] if path == "timeline_typical" else wl.heavy[0]
    return st.timeline_page(customer, wl.inbox_ids, limit=TIMELINE_LIMIT)


async def explain_all(db: RawDB, wl: Workload) -> dict[str, dict[str, Any]]:
    plans = {}
    for path, expected in EXPECTED_INDEX.items():
        sql, params = representative(path, wl)
        plan = await db.explain(sql, params)
        used = [name for name in expected if name in plan]
        plans[path] = {
            "plan": plan,
            "expected_index": " or ".join(expected),
            "uses_index": bool(used),
            # Sorting outside the index means reading every match before the limit.
            "sorts": "TEMP B-TREE" in plan or "Sort Key" in plan,
        }
    return plans
