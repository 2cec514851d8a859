"""Bulk-load a migrated PostgreSQL database with asyncpg's binary COPY.

Secondary indexes are dropped for the load and recreated from their own
definitions (pg_get_indexdef), so the result is exactly the migrated schema.
Foreign-key triggers are skipped with session_replication_role = replica:
the rows are consistent by construction, and checking 1M references one by
one would triple the load time.
"""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]

from bench.progress import Timer, counted
from bench.shape import BULK_TABLES, COLUMNS, Plan, to_datetime

_SECONDARY_INDEXES = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS ddl
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relname = ANY($1::text[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


async def load(dsn: str, plan: Plan) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = await conn.fetch(_SECONDARY_INDEXES, list(BULK_TABLES))
        for row in indexes:
            await conn.execute(f"DROP INDEX {row['name']}")

        counts: dict[str, int] = {}
        for table, total, rows in plan.table_streams(to_datetime):
            status = await conn.copy_records_to_table(
                table, records=counted(rows, table, total), columns=list(COLUMNS[table])
            )
            counts[table] = int(status.split()[-1])

        with Timer(f"rebuilding {len(indexes)} indexes"):
            for row in indexes:
                await conn.execute(row["ddl"])
        for table in BULK_TABLES:
            # Explicit ids bypassed the sequences; later inserts must not collide.
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        with Timer("VACUUM ANALYZE"):
            # Fresh statistics and a visibility map, as autovacuum would leave them.
            for table in BULK_TABLES:
                await conn.execute(f"VACUUM ANALYZE {table}")
        return counts
    finally:
        await conn.close()


async def message_count(dsn: str) -> int | None:
    """Rows in messages, or None when the database or table does not exist."""
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        return None
    try:
        return int(await conn.fetchval("SELECT count(*) FROM messages"))
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()


async def recreate_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
