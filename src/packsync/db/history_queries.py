"""SQL of the definition history (`workflow_version`, migration 0003).

Every statement is batched over the rows of one write and reads the current
rows from Attune's `workflow_definition` (and packsync's `managed_workflow`),
so a version holds exactly what the table holds after the write. The hash is
sha256 of the jsonb text PostgreSQL keeps (canonical: key order and spacing
never make two equal definitions differ). Names are unqualified, as in
queries.py.
"""

from __future__ import annotations

_HASH = "encode(sha256(convert_to(w.definition::text, 'UTF8')), 'hex')"

# The latest version of each ref in `cur`.
_LAST = """
last AS (
    SELECT DISTINCT ON (v.ref) v.ref, v.version, v.deleted, v.definition_hash, v.file_path,
           v.pack_ref, v.source
    FROM workflow_version v WHERE v.ref IN (SELECT ref FROM cur)
    ORDER BY v.ref, v.version DESC
)
"""

# Before packsync changes or deletes rows: each row as it is now, when its
# history does not already end with it (registered before history existed,
# or changed behind packsync's back). `created` is when the row last changed.
_BASELINE = f"""
WITH cur AS (
    SELECT w.ref, w.pack_ref, w.definition, {_HASH} AS hash, w.updated, m.source, m.file_path
    FROM workflow_definition w JOIN managed_workflow m ON m.workflow_id = w.id
    WHERE {{where}}
), {_LAST}
INSERT INTO workflow_version (ref, version, definition_hash, definition, pack_ref, source,
                              file_path, trigger, created)
SELECT cur.ref, coalesce(last.version, 0) + 1, cur.hash, cur.definition, cur.pack_ref,
       cur.source, cur.file_path, 'baseline', cur.updated
FROM cur LEFT JOIN last ON last.ref = cur.ref
WHERE last.definition_hash IS DISTINCT FROM cur.hash
"""  # noqa: S608 - only constant fragments are formatted in
BASELINE = _BASELINE.format(where="w.id = ANY($1::bigint[])")
BASELINE_PACK_FILES = _BASELINE.format(where="m.pack_ref = $1 AND m.source = 'file'")

# The oldest versions of the refs just appended to, beyond $keep per ref (0: none).
_PRUNE = """
pruned AS (
    DELETE FROM workflow_version v USING ins
    WHERE {keep}::integer > 0 AND v.ref = ins.ref AND v.version <= ins.version - {keep}::integer
)
"""

# $1 workflow ids just written, $2 trigger, $3 git commit, $4 keep. A version
# only where the definition (or the file holding it) differs from the latest.
RECORD_WRITTEN = f"""
WITH cur AS (
    SELECT w.ref, w.pack_ref, w.definition, {_HASH} AS hash, m.source, m.file_path
    FROM workflow_definition w JOIN managed_workflow m ON m.workflow_id = w.id
    WHERE w.id = ANY($1::bigint[])
), {_LAST}, ins AS (
    INSERT INTO workflow_version (ref, version, definition_hash, definition, pack_ref, source,
                                  file_path, trigger, git_commit)
    SELECT cur.ref, coalesce(last.version, 0) + 1, cur.hash, cur.definition, cur.pack_ref,
           cur.source, cur.file_path, $2, $3
    FROM cur LEFT JOIN last ON last.ref = cur.ref
    WHERE last.ref IS NULL OR last.deleted OR last.definition_hash <> cur.hash
       OR last.file_path IS DISTINCT FROM cur.file_path
    RETURNING id, ref, version
), {_PRUNE.format(keep="$4")}
SELECT id, ref, version FROM ins
"""  # noqa: S608 - only constant fragments are formatted in

# $1 refs whose rows were deleted, $2 trigger, $3 git commit, $4 keep. A ref
# that has a row again (a file renamed: deleted and written in one sync) is no
# deletion; nor is one whose history already ends deleted.
RECORD_DELETED = f"""
WITH cur AS (SELECT DISTINCT unnest($1::text[]) AS ref), {_LAST}, ins AS (
    INSERT INTO workflow_version (ref, version, deleted, pack_ref, source, file_path,
                                  trigger, git_commit)
    SELECT last.ref, last.version + 1, true, last.pack_ref, last.source, last.file_path, $2, $3
    FROM last
    WHERE NOT last.deleted
      AND NOT EXISTS (SELECT 1 FROM workflow_definition w WHERE w.ref = last.ref)
    RETURNING id, ref, version
), {_PRUNE.format(keep="$4")}
SELECT id, ref, version FROM ins
"""  # noqa: S608 - only constant fragments are formatted in

# ---------------------------------------------------------------- reads
_COLUMNS = """
id, ref, version, deleted, definition_hash, pack_ref, source, file_path, trigger,
sync_run_id, git_commit, created
"""
VERSIONS = f"SELECT {_COLUMNS} FROM workflow_version WHERE ref = $1 ORDER BY version"  # noqa: S608
VERSION = f"SELECT {_COLUMNS}, definition FROM workflow_version WHERE ref = $1 AND version = $2"  # noqa: S608
LATEST_VERSION = (
    f"SELECT {_COLUMNS}, definition FROM workflow_version WHERE ref = $1"  # noqa: S608
    " ORDER BY version DESC LIMIT 1"
)
# The current row's owner: 'file' | 'api' (packsync's), 'attune', or no row.
CURRENT_OWNER = """
SELECT coalesce(m.source, 'attune') AS source, w.pack_ref, m.file_path
FROM workflow_definition w LEFT JOIN managed_workflow m ON m.workflow_id = w.id
WHERE w.ref = $1
"""
