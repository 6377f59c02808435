"""Property test: any sequence of file edits (create, change, break, delete)
followed by syncs leaves the database exactly where SPEC §6 says — compared
against a tiny model of "last good version per file"."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packsync.sync.service import SyncService
from tests.support.packfactory import make_pack, workflow_yaml, write

FILES = ["workflows/a.yaml", "workflows/b.yml", "actions/workflows/c.yaml"]
CONTENTS = {
    "good1": workflow_yaml("One"),
    "good2": workflow_yaml("Two"),
    "bad": "version: '1.0'\ntasks: [\n",
}
STEPS = st.lists(
    st.tuples(st.sampled_from(FILES), st.sampled_from([*CONTENTS, "delete"])),
    min_size=1,
    max_size=8,
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=STEPS, sync_every=st.integers(min_value=1, max_value=3))
async def test_database_follows_the_model(
    service: SyncService,
    pool: asyncpg.Pool,
    packs: Path,
    steps: list[tuple[str, str]],
    sync_every: int,
) -> None:
    ref = f"m{uuid.uuid4().hex[:10]}"
    root = make_pack(packs, ref)
    on_disk: dict[str, str] = {}  # rel path -> content kind
    last_good: dict[str, str] = {}  # rel path -> hash of the registered version
    try:
        for i, (rel, action) in enumerate(steps, 1):
            if action == "delete":
                (root / rel).unlink(missing_ok=True)
                on_disk.pop(rel, None)
            else:
                write(root / rel, CONTENTS[action])
                on_disk[rel] = action
            if i % sync_every and i != len(steps):
                continue
            result = await service.sync_pack(ref, trigger="watch")
            for path in list(last_good):
                if path not in on_disk:
                    del last_good[path]
            for path, kind in on_disk.items():
                if kind != "bad":
                    last_good[path] = sha(CONTENTS[kind])
            async with pool.acquire() as conn:
                rows = {
                    r["file_path"]: r["content_hash"]
                    for r in await conn.fetch(
                        "SELECT m.file_path, m.content_hash FROM workflow_definition w"
                        " JOIN managed_workflow m ON m.workflow_id = w.id WHERE w.pack_ref = $1",
                        ref,
                    )
                }
                errors = {
                    r[0]
                    for r in await conn.fetch(
                        "SELECT file_path FROM workflow_sync_error WHERE pack_ref = $1", ref
                    )
                }
            assert rows == last_good, (steps, result.to_dict())
            assert errors == {p for p, k in on_disk.items() if k == "bad"}
            assert result.failed == len(errors)
            assert result.outcome == ("errors" if errors else "ok")
    finally:
        shutil.rmtree(root, ignore_errors=True)
