"""SQL for workflows written through packsync's API (`source = 'api'`).

Kept apart from the file-sync SQL in `queries.py`: every write here goes
through packsync's `managed_workflow` row with `source = 'api'`, so the API can
never overwrite or delete a file-managed row, nor one Attune itself wrote,
even if a caller skipped the checks in `api_service`. Like Attune's registrar,
a workflow row comes with its companion action row (runtime NULL, is_adhoc
false, workflow_def = the definition), written in the same statement.
Names are unqualified: sessions run with `search_path` = state, Attune schema.
"""

from __future__ import annotations

PACK_BY_REF = "SELECT id, ref FROM pack WHERE ref = $1"

WORKFLOW_OWNER = """
SELECT w.id, w.ref, w.pack_ref, coalesce(m.source, 'attune') AS source, m.file_path,
       w.label, w.description, w.version, w.param_schema, w.out_schema, w.definition,
       coalesce(w.tags, '{}') AS tags, coalesce(m.enabled, true) AS enabled
FROM workflow_definition w LEFT JOIN managed_workflow m ON m.workflow_id = w.id
WHERE w.ref = $1
"""
WORKFLOW_OWNER_FOR_UPDATE = WORKFLOW_OWNER + " FOR UPDATE OF w"
# An action with the workflow's ref (its companion action would collide).
ACTION_REF_TAKEN = "SELECT EXISTS (SELECT 1 FROM action WHERE ref = $1)"

# $1 ref, $2 pack id, $3 pack ref, $4 label, $5 description, $6 version,
# $7 param_schema, $8 out_schema, $9 definition, $10 tags, $11 enabled, $12 hash,
# $13 the companion action's entrypoint. A row with the same ref wins:
# nothing is inserted, no row returned.
INSERT_API_WORKFLOW = """
WITH wd AS (
    INSERT INTO workflow_definition (ref, pack, pack_ref, label, description, version,
        param_schema, out_schema, definition, tags)
    VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10::text[])
    ON CONFLICT (ref) DO NOTHING
    RETURNING id
), act AS (
    INSERT INTO action (ref, pack, pack_ref, label, description, entrypoint, runtime,
                        param_schema, out_schema, is_adhoc, workflow_def)
    SELECT $1, $2, $3, $4, $5, $13, NULL, $7::jsonb, $8::jsonb, false, wd.id FROM wd
    RETURNING id, workflow_def
)
INSERT INTO managed_workflow (workflow_id, ref, pack_ref, action_id, source, file_path,
                              content_hash, enabled)
SELECT act.workflow_def, $1, $3, act.id, 'api', NULL, $12, $11 FROM act
RETURNING workflow_id
"""

# $1 ref, $2 label, $3 description, $4 version, $5 param_schema, $6 out_schema,
# $7 definition, $8 tags, $9 enabled, $10 hash.
UPDATE_API_WORKFLOW = """
WITH st AS (
    UPDATE managed_workflow SET enabled = $9, content_hash = $10, updated = now()
    WHERE ref = $1 AND source = 'api'
    RETURNING workflow_id
), wd AS (
    UPDATE workflow_definition w SET
        label = $2, description = $3, version = $4, param_schema = $5::jsonb,
        out_schema = $6::jsonb, definition = $7::jsonb, tags = $8::text[]
    FROM st WHERE w.id = st.workflow_id
    RETURNING w.id
), act AS (
    UPDATE action a SET label = $2, description = $3, param_schema = $5::jsonb,
        out_schema = $6::jsonb
    FROM wd WHERE a.workflow_def = wd.id
)
SELECT id FROM wd
"""

# The companion action goes with the workflow row (action.workflow_def cascades).
DELETE_API_WORKFLOW = """
WITH st AS (DELETE FROM managed_workflow WHERE ref = $1 AND source = 'api'
            RETURNING workflow_id)
DELETE FROM workflow_definition w USING st WHERE w.id = st.workflow_id
RETURNING w.id, w.ref
"""

# A ref with no registered row but a failing file: lets a 404 say why.
FAILING_FILE_FOR_REF = """
SELECT pack_ref, file_path, errors FROM workflow_sync_error WHERE ref = $1
ORDER BY last_seen DESC LIMIT 1
"""
