"""Create, update and delete API-sourced workflows (`source = 'api'`), each
with its companion action row, as Attune's registrar writes them.

The API is a second way into the same table, so it must hold the same line
as file sync: a body is validated by the very validator that checks files
(diagnostics located by JSON path instead of line/column), a file-managed
workflow is never written here (the file is the source of truth), and each
write takes the pack's transaction advisory lock so it serialises with a
sync of that pack. Failures are domain exceptions; the HTTP layer maps them
onto status codes.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from packsync.config import Settings
from packsync.core.diagnostics import Diagnostic, Severity, error, has_errors
from packsync.db import api_queries as sql
from packsync.db import queries, reads
from packsync.pipeline.catalog import CatalogCache
from packsync.pipeline.model import HostCatalog, ParsedWorkflow
from packsync.pipeline.parse import validate_definition
from packsync.pipeline.rows import companion_entrypoint
from packsync.sync.history import Recording, baseline, record

log = structlog.get_logger(__name__)

# request field → key of the workflow document it overrides
FIELD_KEYS: dict[str, str] = {
    "label": "label",
    "description": "description",
    "version": "version",
    "param_schema": "parameters",
    "out_schema": "output",
    "tags": "tags",
    "enabled": "enabled",
}
_ROOT_KEY = re.compile(r"^\$\.([^.\[]+)(.*)$")


# ---------------------------------------------------------------- failures
class ApiWorkflowError(Exception):
    """Base of the failures the HTTP layer maps onto status codes."""


class PackNotFound(ApiWorkflowError):
    def __init__(self, pack_ref: str) -> None:
        super().__init__(
            f"pack '{pack_ref}' is not registered; add its folder to the packs directory "
            "(with a pack.yaml) and let it sync first"
        )
        self.pack_ref = pack_ref


class WorkflowNotFound(ApiWorkflowError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"workflow '{ref}' does not exist")
        self.ref = ref


class DuplicateRef(ApiWorkflowError):
    def __init__(self, ref: str, file: str | None) -> None:
        where = f" by the file {file}" if file else " through the API"
        super().__init__(f"workflow '{ref}' already exists (managed{where}); choose another ref")
        self.ref = ref
        self.file = file


class FileManaged(ApiWorkflowError):
    """The workflow comes from a file: the API must not change it."""

    def __init__(self, ref: str, file: str) -> None:
        super().__init__(
            f"workflow '{ref}' is managed by the file {file}; edit that file instead "
            "(packsync syncs it automatically)"
        )
        self.ref = ref
        self.file = file


class AttuneManaged(ApiWorkflowError):
    """The workflow was written by Attune itself (its API, UI or pack loader):
    packsync never changes it."""

    def __init__(self, ref: str) -> None:
        super().__init__(
            f"workflow '{ref}' was registered by Attune itself (its API, UI or pack "
            "loader), not through packsync; change it in Attune"
        )
        self.ref = ref


class RefMismatch(ApiWorkflowError):
    def __init__(self, ref: str, pack_ref: str) -> None:
        super().__init__(
            f"ref '{ref}' must start with its pack ref followed by a dot ('{pack_ref}.')"
        )
        self.ref = ref
        self.pack_ref = pack_ref


class InvalidWorkflow(ApiWorkflowError):
    def __init__(self, ref: str, diagnostics: list[Diagnostic]) -> None:
        errors = [d for d in diagnostics if d.is_error]
        first = errors[0].message if errors else "invalid workflow"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"workflow '{ref}' is invalid: {first}{more}")
        self.ref = ref
        self.diagnostics = diagnostics


@dataclass(slots=True)
class WriteResult:
    id: int
    ref: str
    warnings: list[Diagnostic] = field(default_factory=list)


# ---------------------------------------------------------------- documents
def build_document(
    definition: Mapping[str, Any], overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The workflow document to validate: `definition` with the top-level
    request fields laid over it. Returns it with doc key → request field for
    the keys that came from the request (to locate diagnostics)."""
    doc = copy.deepcopy(dict(definition))
    origin: dict[str, str] = {}
    for name, value in overrides.items():
        key = FIELD_KEYS[name]
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = copy.deepcopy(value)
        origin[key] = name
    return doc, origin


def locate(diagnostic: Diagnostic, origin: Mapping[str, str], display: str) -> Diagnostic:
    """Re-anchor a diagnostic's JSON path from the document to the request body."""
    match = _ROOT_KEY.match(diagnostic.json_path or "$")
    if match and match.group(1) in origin:
        path = f"$.{origin[match.group(1)]}{match.group(2)}"
    elif match:
        path = f"$.definition.{match.group(1)}{match.group(2)}"
    else:
        path = "$.definition" + (diagnostic.json_path or "$")[1:]
    return dataclasses.replace(diagnostic, file=display, json_path=path)


def definition_hash(definition: Any) -> str:
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def validate_document(
    doc: dict[str, Any], *, pack_ref: str, ref: str, catalog: HostCatalog
) -> ParsedWorkflow:
    """Run the file validator on a JSON document."""
    return validate_definition(
        doc, pack_ref=pack_ref, ref=ref, display_path=f"api:{ref}", catalog=catalog
    )


# ---------------------------------------------------------------- operations
class ApiWorkflowService:
    """Writes of API-sourced workflows; reads go through SyncService."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool

    def file_of(self, pack_ref: str, file_path: str | None) -> str:
        """The path an operator edits, as the daemon sees it."""
        return str(self.settings.packs_base_dir / pack_ref / (file_path or ""))

    async def _validate(
        self, doc: dict[str, Any], origin: dict[str, str], *, pack_ref: str, ref: str
    ) -> ParsedWorkflow:
        registered = await reads.registered_actions(self.pool)

        def work() -> ParsedWorkflow:
            # Packs looked up as the definition names them; packs registered in
            # Attune but not on this host answer from its action table.
            catalog = CatalogCache(self.settings.packs_base_dir).view(registered)
            # The workflow itself is an action of its pack (type: workflow tasks may call it).
            catalog.add(pack_ref, {ref})
            return validate_document(doc, pack_ref=pack_ref, ref=ref, catalog=catalog)

        try:
            parsed = await asyncio.to_thread(work)
        except Exception:
            # A validator bug must not turn a client's body into a 500; the
            # traceback goes to the log for the developers.
            log.exception("api.validator_crashed", ref=ref)
            raise InvalidWorkflow(
                ref,
                [
                    error(
                        f"api:{ref}",
                        "validator-error",
                        "the validator failed on this definition (see the daemon's log); "
                        "check it with 'packsync validate' as a file",
                    )
                ],
            ) from None
        parsed.diagnostics = [locate(d, origin, f"api:{ref}") for d in parsed.diagnostics]
        if not parsed.ok or has_errors(parsed.diagnostics):
            raise InvalidWorkflow(ref, parsed.diagnostics)
        return parsed

    async def _lock_pack(self, conn: asyncpg.Connection, pack_ref: str) -> None:
        # Same lock as file sync: one writer per pack at a time.
        await conn.execute(queries.PACK_XACT_LOCK, self.settings.db_schema, pack_ref)

    async def create(
        self,
        *,
        ref: str,
        pack_ref: str | None,
        definition: Mapping[str, Any],
        overrides: Mapping[str, Any],
        trigger: str = "api",
    ) -> WriteResult:
        pack_ref = pack_ref or ref.split(".", 1)[0]
        if not ref.startswith(pack_ref + "."):
            raise RefMismatch(ref, pack_ref)
        await self._check_new(ref, pack_ref)
        doc, origin = build_document(definition, overrides)
        parsed = await self._validate(doc, origin, pack_ref=pack_ref, ref=ref)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._lock_pack(conn, pack_ref)
            pack = await conn.fetchrow(sql.PACK_BY_REF, pack_ref)
            if pack is None:
                raise PackNotFound(pack_ref)
            if await conn.fetchval(sql.ACTION_REF_TAKEN, ref):
                raise DuplicateRef(ref, None)
            row_id = await conn.fetchval(
                sql.INSERT_API_WORKFLOW,
                ref,
                pack["id"],
                pack_ref,
                *_columns(parsed),
                companion_entrypoint(ref, pack_ref),
            )
            if row_id is None:
                existing = await conn.fetchrow(sql.WORKFLOW_OWNER, ref)
                raise self._duplicate(ref, existing)
            await record(conn, self._recording(trigger), written=[row_id])
        return WriteResult(int(row_id), ref, _warnings(parsed))

    async def _check_new(self, ref: str, pack_ref: str) -> None:
        """Cheap checks first, so a bad pack or a duplicate is reported before
        the body is validated."""
        async with self.pool.acquire() as conn:
            if await conn.fetchrow(sql.PACK_BY_REF, pack_ref) is None:
                raise PackNotFound(pack_ref)
            existing = await conn.fetchrow(sql.WORKFLOW_OWNER, ref)
            action_taken = await conn.fetchval(sql.ACTION_REF_TAKEN, ref)
        if existing is not None:
            raise self._duplicate(ref, existing)
        if action_taken:
            raise DuplicateRef(ref, None)

    def _duplicate(self, ref: str, row: Mapping[str, Any] | None) -> DuplicateRef:
        if row is not None and row["source"] == "file":
            return DuplicateRef(ref, self.file_of(row["pack_ref"], row["file_path"]))
        return DuplicateRef(ref, None)

    async def _api_row(self, ref: str) -> Mapping[str, Any]:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(sql.WORKFLOW_OWNER, ref)
        return self._writable(ref, row)

    def _writable(self, ref: str, row: Mapping[str, Any] | None) -> Mapping[str, Any]:
        if row is None:
            raise WorkflowNotFound(ref)
        if row["source"] == "attune":
            raise AttuneManaged(ref)
        if row["source"] != "api":
            raise FileManaged(ref, self.file_of(row["pack_ref"], row["file_path"]))
        return row

    def _recording(self, trigger: str) -> Recording:
        return Recording(trigger=trigger, keep=self.settings.history_keep)

    async def update(
        self, ref: str, patch: Mapping[str, Any], *, trigger: str = "api"
    ) -> WriteResult:
        """`patch` holds only the fields the client sent (None clears)."""
        row = self._writable(ref, await self._fetch(ref))
        pack_ref = str(row["pack_ref"])
        base = patch.get("definition")
        # The stored (normalised) form is itself valid input: re-validate it as is.
        definition = dict(base if base is not None else row["definition"] or {})
        overrides = {k: v for k, v in patch.items() if k in FIELD_KEYS}
        # Keep stored column values the new document does not restate.
        stored = {
            "label": row["label"],
            "description": row["description"],
            "version": row["version"],
            "param_schema": row["param_schema"],
            "out_schema": row["out_schema"],
            "tags": list(row["tags"] or []),
            "enabled": row["enabled"],
        }
        for name, value in stored.items():
            if name not in overrides and FIELD_KEYS[name] not in definition and value is not None:
                definition[FIELD_KEYS[name]] = value
        doc, origin = build_document(definition, overrides)
        parsed = await self._validate(doc, origin, pack_ref=pack_ref, ref=ref)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._lock_pack(conn, pack_ref)
            current = self._writable(ref, await conn.fetchrow(sql.WORKFLOW_OWNER_FOR_UPDATE, ref))
            await baseline(conn, [current["id"]])
            row_id = await conn.fetchval(sql.UPDATE_API_WORKFLOW, ref, *_columns(parsed))
            if row_id is not None:
                await record(conn, self._recording(trigger), written=[row_id])
        if row_id is None:  # deleted between the check and the write
            raise WorkflowNotFound(ref)
        return WriteResult(int(row_id), ref, _warnings(parsed))

    async def delete(self, ref: str) -> WriteResult:
        row = await self._api_row(ref)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._lock_pack(conn, str(row["pack_ref"]))
            current = self._writable(ref, await conn.fetchrow(sql.WORKFLOW_OWNER_FOR_UPDATE, ref))
            await baseline(conn, [current["id"]])
            deleted = await conn.fetchrow(sql.DELETE_API_WORKFLOW, ref)
            await record(conn, self._recording("api"), deleted=[ref])
        if deleted is None:
            raise WorkflowNotFound(ref)
        return WriteResult(int(deleted["id"]), ref)

    async def _fetch(self, ref: str) -> Mapping[str, Any] | None:
        async with self.pool.acquire() as conn:
            row: Mapping[str, Any] | None = await conn.fetchrow(sql.WORKFLOW_OWNER, ref)
        return row


def _columns(parsed: ParsedWorkflow) -> tuple[Any, ...]:
    """label, description, version, param_schema, out_schema, definition, tags,
    enabled, content hash: the column values of a validated document (label and
    version fall back as Attune's NOT NULL columns need: the ref's name, '')."""
    definition = parsed.definition or {}
    return (
        parsed.label or parsed.ref.rsplit(".", 1)[-1],
        parsed.description,
        parsed.version or "",
        parsed.param_schema,
        parsed.out_schema,
        definition,
        [str(t) for t in parsed.tags],
        parsed.enabled,
        definition_hash(definition),
    )


def _warnings(parsed: ParsedWorkflow) -> list[Diagnostic]:
    return [d for d in parsed.diagnostics if d.severity is Severity.WARNING]
