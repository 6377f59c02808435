-- packsync 0001: packsync's own state, beside Attune's tables.
-- Runs with search_path set to the state schema; names are unqualified.
-- Attune's rows are referenced by id without foreign keys: a foreign key
-- would add triggers to Attune's tables, which packsync never alters. A state
-- row whose Attune row is gone is stale and is dropped by the next sync.

-- The packs a sync_group manages (one group per pack), and the Attune pack
-- row packsync created for it, if it did: created_pack_id = pack.id.
CREATE TABLE managed_pack (
    pack_ref         text PRIMARY KEY,
    sync_group       text NOT NULL,
    created_pack_id  bigint,
    storage_path     text,
    checksum         text,
    created          timestamptz NOT NULL DEFAULT now(),
    updated          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX managed_pack_group_idx ON managed_pack (sync_group);

-- The workflow_definition rows packsync wrote (from a file, or through its
-- API) with the action row it wrote beside each (companion or linked action).
-- A workflow row with no row here is not packsync's and is never touched.
CREATE TABLE managed_workflow (
    workflow_id   bigint PRIMARY KEY,
    ref           text NOT NULL UNIQUE,
    pack_ref      text NOT NULL,
    action_id     bigint,
    source        text NOT NULL CHECK (source IN ('file', 'api')),
    file_path     text,
    content_hash  text,
    link_hash     text,
    enabled       boolean NOT NULL DEFAULT true,
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT managed_workflow_file_source CHECK (source <> 'file' OR file_path IS NOT NULL)
);
CREATE INDEX managed_workflow_pack_idx ON managed_workflow (pack_ref);
-- "is this action row packsync's?" (PACK_STATE's taken refs, the pack-row deletion check)
CREATE INDEX managed_workflow_action_idx ON managed_workflow (action_id);
CREATE UNIQUE INDEX managed_workflow_file_idx ON managed_workflow (pack_ref, file_path)
    WHERE file_path IS NOT NULL;

-- One row per file that currently fails (pack.yaml included).
CREATE TABLE workflow_sync_error (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pack_ref      text NOT NULL,
    file_path     text NOT NULL,
    ref           text,
    sync_group    text NOT NULL DEFAULT 'default',
    errors        jsonb NOT NULL,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pack_ref, file_path)
);

CREATE TABLE sync_run (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pack_ref      text,  -- NULL: a whole sweep (sync_all)
    trigger       text NOT NULL
                  CHECK (trigger IN ('startup', 'watch', 'reconcile', 'api', 'cli', 'signal')),
    started       timestamptz NOT NULL,
    finished      timestamptz NOT NULL,
    loaded        integer NOT NULL DEFAULT 0,
    created       integer NOT NULL DEFAULT 0,
    updated       integer NOT NULL DEFAULT 0,
    unchanged     integer NOT NULL DEFAULT 0,
    deleted       integer NOT NULL DEFAULT 0,
    failed        integer NOT NULL DEFAULT 0,
    outcome       text NOT NULL,
    sync_group    text NOT NULL,
    message       text
);
CREATE INDEX sync_run_pack_ref_idx ON sync_run (pack_ref, id);
-- History is pruned per sync_group: one group's pruning must not eat another's.
CREATE INDEX sync_run_group_idx ON sync_run (sync_group, id);
