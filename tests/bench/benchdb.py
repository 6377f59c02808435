"""The database every benchmark runs against: PACKSYNC_TEST_DATABASE_URL when
set, else a throw-away embedded PostgreSQL inside the benchmark's temp dir."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def bench_database(work: Path) -> Iterator[str]:
    url = os.environ.get("PACKSYNC_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver

    server = pgserver.get_server(work / "pg", cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
