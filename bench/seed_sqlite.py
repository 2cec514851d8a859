"""Bulk-load a migrated SQLite database with stdlib sqlite3 (the fastest path there).

The load runs as one big transaction with the journal off and the secondary
indexes dropped, then rebuilds the indexes from the exact SQL the migrations
created, so the schema the app reads is the migrated one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.progress import Timer, counted
from bench.shape import BULK_TABLES, COLUMNS, Plan, to_sqlite_text

_CHUNK = 20_000


def load(path: Path, plan: Plan) -> dict[str, int]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Safe only because nothing else has the file open and a failed load
        # is simply reseeded; the app's WAL mode is restored at the end.
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1048576")  # 1 GiB, in KiB
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA foreign_keys=OFF")
        marks = ",".join("?" * len(BULK_TABLES))
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({marks})",
            BULK_TABLES,
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')

        counts: dict[str, int] = {}
        conn.execute("BEGIN")
        for table, total, rows in plan.table_streams(to_sqlite_text):
            columns = COLUMNS[table]
            sql = (
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})"
            )
            batch: list[tuple[object, ...]] = []
            n = 0
            for row in counted(rows, table, total):
                batch.append(row)
                if len(batch) >= _CHUNK:
                    conn.executemany(sql, batch)
                    n += len(batch)
                    batch.clear()
            conn.executemany(sql, batch)
            counts[table] = n + len(batch)
        conn.execute("COMMIT")

        with Timer(f"rebuilding {len(indexes)} indexes"):
            for _, ddl in indexes:
                conn.execute(ddl)
        conn.execute("PRAGMA journal_mode=WAL")
        return counts
    finally:
        conn.close()


def message_count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    finally:
        conn.close()
