"""Property-based run of /api/v1 against its own OpenAPI document (schemathesis).

The app is served by the daemon's uvicorn wrapper on the test's event loop;
schemathesis generates valid and invalid requests from /openapi.json in a
worker thread and checks that no answer is a 5xx and that
every answer matches the documented status codes and schemas. The number of
examples is bounded so the run stays well under a minute.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import NonInteractiveExampleWarning

from packsync.http.server import HttpServer
from packsync.sync.service import SyncService
from tests.support.api import AUTH
from tests.support.packfactory import make_pack, workflow_yaml

EXAMPLES = 40  # per operation and generation mode


def _fuzz(base_url: str) -> dict[str, Any]:
    """Runs in a thread: blocking HTTP calls while the loop serves them."""
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    stats: dict[str, Any] = {"calls": 0, "statuses": {}, "operations": 0}
    for result in schema.get_all_operations():
        operation = result.ok()
        stats["operations"] += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _exercise(
                operation,
                operation.as_strategy(generation_mode=mode),
                base_url,
                checks,
                stats,
                authenticated=mode is GenerationMode.POSITIVE,
            )
    return stats


def _exercise(
    operation: Any,
    strategy: Any,
    base_url: str,
    checks: list[Any],
    stats: Any,
    *,
    authenticated: bool,
) -> None:
    """`authenticated`: the valid token replaces any generated Authorization
    header, so positive cases (the OpenAPI examples first) reach the handlers
    whatever headers the generator drew; negative cases keep theirs."""

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if authenticated and case.headers:
            case.headers = {k: v for k, v in case.headers.items() if k.lower() != "authorization"}
        response = case.call(base_url=base_url, headers=AUTH, timeout=30)
        stats["calls"] += 1
        key = f"{operation.method.upper()} {operation.path} {response.status_code}"
        stats["statuses"][key] = stats["statuses"].get(key, 0) + 1
        case.validate_response(response, checks=checks, headers=AUTH)

    run()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore", category=NonInteractiveExampleWarning)
async def test_schemathesis_finds_no_5xx_and_no_schema_violation(
    api_app: FastAPI, catalogue: None, api_service: SyncService, packs: Path
) -> None:
    # the refs used as examples in the OpenAPI document exist, so the explicit
    # phase reaches the success paths
    make_pack(packs, "demo", {"deploy.yaml": workflow_yaml("Deploy")})
    assert (await api_service.sync_pack("demo", trigger="cli")).created == 1
    server = HttpServer(api_app, "127.0.0.1", 0)  # the daemon's uvicorn wrapper
    port = await server.start()
    try:
        started = time.monotonic()
        stats = await asyncio.to_thread(_fuzz, f"http://127.0.0.1:{port}")
        elapsed = time.monotonic() - started
    finally:
        await server.stop()
    print(f"schemathesis: {stats['calls']} calls in {elapsed:.1f} s")
    for key, n in sorted(stats["statuses"].items()):
        print(f"  {key}: {n}")
    assert stats["operations"] == 12
    assert stats["calls"] >= 12 * 2  # every operation exercised in both modes
    # the run reached real handlers, not just the validation layer
    statuses = stats["statuses"]
    for ok in (
        "GET /api/v1/workflows 200",
        "GET /api/v1/workflows/{ref} 200",
        "GET /api/v1/packs/{ref}/workflows 200",
        "POST /api/v1/workflows 201",
        "POST /api/v1/packs/{ref}/workflows/sync 200",
        "POST /api/v1/packs/{ref}/workflows/plan 200",
        "POST /api/v1/packs/{ref}/workflows/validate 200",
        "GET /api/v1/workflows/{ref}/versions 200",
    ):
        assert ok in statuses, (ok, statuses)
