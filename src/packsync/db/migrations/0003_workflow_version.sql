-- packsync 0003: the history of every definition packsync wrote (docs/history.md).
-- One row per version of a workflow ref, appended in the transaction that
-- wrote Attune's workflow_definition row (file sync or API), never when the
-- stored definition did not change. A deletion is a version too: `deleted`,
-- with no definition. Versions are numbered 1, 2, 3... per ref and survive
-- the workflow row (a ref deleted and created again continues its numbers);
-- the oldest are pruned beyond `history_keep` per ref.
CREATE TABLE workflow_version (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ref              text NOT NULL,
    version          integer NOT NULL CHECK (version > 0),
    deleted          boolean NOT NULL DEFAULT false,
    -- sha256 (hex) of the definition's jsonb text, the form PostgreSQL keeps:
    -- equal definitions hash equal whatever their key order.
    definition_hash  text,
    -- exactly what workflow_definition.definition held after the write
    definition       jsonb,
    pack_ref         text NOT NULL,
    source           text NOT NULL CHECK (source IN ('file', 'api')),
    file_path        text,  -- relative to the pack folder (file-managed workflows)
    -- what made the change: a sync's trigger, 'api', 'restore', or 'baseline'
    -- (the row as packsync found it before a write, when history did not end
    -- with it: registered before history existed, or changed behind packsync)
    trigger          text NOT NULL CHECK (trigger IN ('startup', 'watch', 'reconcile', 'api',
                                                      'cli', 'signal', 'restore', 'baseline')),
    -- the sync_run of the sync that wrote it (no foreign key: sync_run is pruned)
    sync_run_id      bigint,
    git_commit       text,  -- HEAD of the git work tree holding the pack, when there is one
    created          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ref, version),
    CONSTRAINT workflow_version_deleted CHECK (deleted = (definition IS NULL)),
    CONSTRAINT workflow_version_hash CHECK (deleted = (definition_hash IS NULL))
);
CREATE INDEX workflow_version_sync_run_idx ON workflow_version (sync_run_id)
    WHERE sync_run_id IS NOT NULL;
