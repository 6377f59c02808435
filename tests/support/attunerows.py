"""Rows written as Attune's own API or pack loader would, for ownership tests."""

from __future__ import annotations

import asyncpg


async def insert_attune_action(pool: asyncpg.Pool, pack_ref: str, action_ref: str) -> None:
    """A pack Attune installed (not on this host) with one action of its own."""
    async with pool.acquire() as conn:
        pack_id = await conn.fetchval(
            "INSERT INTO pack (ref, label, version) VALUES ($1, $2, '1.0.0') RETURNING id",
            pack_ref,
            pack_ref.title(),
        )
        await conn.execute(
            "INSERT INTO action (ref, pack, pack_ref, label, entrypoint)"
            " VALUES ($1, $2, $3, 'Ping', 'ping.sh')",
            action_ref,
            pack_id,
            pack_ref,
        )
