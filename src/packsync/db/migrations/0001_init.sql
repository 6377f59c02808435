-- packsync 0001: packs, workflow definitions, per-file sync errors, sync history.
-- Runs with search_path set to the target schema; names are unqualified.

CREATE TABLE pack (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ref           text NOT NULL UNIQUE,
    label         text,
    description   text,
    version       text,
    tags          text[] NOT NULL DEFAULT '{}',
    dependencies  text[] NOT NULL DEFAULT '{}',
    meta          jsonb NOT NULL DEFAULT '{}'::jsonb,
    storage_path  text,
    checksum      text,
    sync_group    text NOT NULL DEFAULT 'default',
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pack_sync_group_idx ON pack (sync_group);

CREATE TABLE workflow_definition (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ref           text NOT NULL UNIQUE,
    pack          bigint NOT NULL REFERENCES pack (id) ON DELETE CASCADE,
    pack_ref      text NOT NULL,
    label         text,
    description   text,
    version       text,
    param_schema  jsonb,
    out_schema    jsonb,
    definition    jsonb NOT NULL,
    tags          text[] NOT NULL DEFAULT '{}',
    enabled       boolean NOT NULL DEFAULT true,
    source        text NOT NULL DEFAULT 'file' CHECK (source IN ('file', 'api')),
    file_path     text,
    content_hash  text,
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_file_source CHECK (source <> 'file' OR file_path IS NOT NULL)
);
CREATE INDEX workflow_definition_pack_idx ON workflow_definition (pack);
CREATE INDEX workflow_definition_pack_ref_idx ON workflow_definition (pack_ref);
CREATE INDEX workflow_definition_tags_idx ON workflow_definition USING gin (tags);
CREATE INDEX workflow_definition_enabled_idx ON workflow_definition (enabled);

-- One row per file that currently fails (pack.yaml included). No FK: a pack
-- that never registered can still have a failing file.
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
