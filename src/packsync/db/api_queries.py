"""SQL for workflows written through the API (`source = 'api'`).

Kept apart from the file-sync SQL in `queries.py`: every write here is
guarded by `source = 'api'`, so the API can never overwrite or delete a
file-managed row even if a caller skipped the checks in `api_service`.
Names are unqualified: sessions run with `search_path` = the configured schema.
"""

from __future__ import annotations

PACK_BY_REF = "SELECT id, ref, sync_group FROM pack WHERE ref = $1"

WORKFLOW_OWNER = """
SELECT id, ref, pack_ref, source, file_path, label, description, version,
       param_schema, out_schema, definition, tags, enabled
FROM workflow_definition WHERE ref = $1
"""
WORKFLOW_OWNER_FOR_UPDATE = WORKFLOW_OWNER + " FOR UPDATE"

# $1 ref, $2 pack id, $3 pack ref, $4 label, $5 description, $6 version,
# $7 param_schema, $8 out_schema, $9 definition, $10 tags, $11 enabled, $12 hash.
# A row with the same ref (file or api) wins: nothing is inserted, no row returned.
INSERT_API_WORKFLOW = """
INSERT INTO workflow_definition (ref, pack, pack_ref, label, description, version,
    param_schema, out_schema, definition, tags, enabled, source, file_path, content_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10::text[], $11,
        'api', NULL, $12)
ON CONFLICT (ref) DO NOTHING
RETURNING id
"""

UPDATE_API_WORKFLOW = """
UPDATE workflow_definition SET
    label = $2, description = $3, version = $4, param_schema = $5::jsonb,
    out_schema = $6::jsonb, definition = $7::jsonb, tags = $8::text[], enabled = $9,
    content_hash = $10, updated = now()
WHERE ref = $1 AND source = 'api'
RETURNING id
"""

DELETE_API_WORKFLOW = """
DELETE FROM workflow_definition WHERE ref = $1 AND source = 'api'
RETURNING id, ref
"""

# A ref with no registered row but a failing file: lets a 404 say why.
FAILING_FILE_FOR_REF = """
SELECT pack_ref, file_path, errors FROM workflow_sync_error WHERE ref = $1
ORDER BY last_seen DESC LIMIT 1
"""
