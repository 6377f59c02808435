"""Fencing: a daemon writes only while it holds its group's leader lease.

The daemon's leader elector hands out a `LeaseToken`; every pack transaction
that writes checks, as its last statement before COMMIT, that the token still
holds an unexpired lease (db/lease_queries.py). A leader that was frozen
(SIGSTOP, a stalled VM) or cut off past its lease rolls back instead of
committing, whatever its own view of the world. The one-shot CLI has no
token and is not fenced (per-pack locks serialise it with the daemon).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from packsync.db import lease_queries


@dataclass(frozen=True, slots=True)
class LeaseToken:
    schema: str
    group: str
    holder: str
    epoch: int


TokenSource = Callable[[], "LeaseToken | None"]


class LeaseLost(Exception):
    """This daemon no longer holds its group's lease: the transaction rolls back."""


async def check_fence(conn: asyncpg.Connection, source: TokenSource) -> None:
    """Raise LeaseLost unless the lease is still ours (inside the transaction)."""
    token = source()
    if token is None:
        raise LeaseLost("not the leader of this sync_group: nothing is written")
    await conn.execute(lease_queries.FENCE_SHARED, token.schema, token.group)
    if not await conn.fetchval(lease_queries.LEASE_HELD, token.group, token.holder, token.epoch):
        raise LeaseLost(
            f"leader lease of sync_group '{token.group}' (epoch {token.epoch}) expired or was "
            "taken over: this transaction rolls back"
        )
