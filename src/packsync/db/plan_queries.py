"""Read-only queries of the dry run (preview.py): the registered rows a plan
would change, read inside the pack's read-only transaction."""

WORKFLOW_ROWS = """
SELECT id, ref, label, description, version, tags, param_schema, out_schema, definition
FROM workflow_definition WHERE id = ANY($1::bigint[])
"""
# The action row beside each workflow row (companion or linked).
ACTION_ROWS = """
SELECT workflow_def, ref, label, description, entrypoint, param_schema, out_schema
FROM action WHERE workflow_def = ANY($1::bigint[])
"""
# Refs the sync's INSERT ... ON CONFLICT (ref) DO NOTHING would skip: rows
# that exist and that the plan does not delete first.
TAKEN_REFS = """
SELECT ref FROM workflow_definition
WHERE ref = ANY($1::text[]) AND NOT (id = ANY($2::bigint[]))
"""
