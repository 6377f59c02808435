-- Attune's pack, action and workflow_definition tables, for a database that
-- has none of them (the embedded default, tests, a standalone install).
-- Column names, types, NOT NULL, defaults, CHECK constraints, unique keys and
-- ON DELETE CASCADE foreign keys follow Attune's migrations (commit 9206d41,
-- 0001/0002/0004/0006). Never run against a database that has them: packsync
-- does not create, alter or drop Attune's tables there.
-- Differences (docs/database.md): no runtime / identity tables, so
-- action.runtime and pack.installed_by are plain bigint columns without a
-- foreign key; only the indexes packsync's queries need.
-- Runs with search_path = the Attune schema; names are unqualified.

CREATE OR REPLACE FUNCTION update_updated_column() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.updated := now();
    RETURN NEW;
END
$fn$;

DO $enum$
BEGIN
    CREATE TYPE artifact_retention_enum AS ENUM ('versions', 'days', 'hours', 'minutes');
EXCEPTION
    WHEN duplicate_object THEN NULL;
END
$enum$;

CREATE TABLE pack (
    id                   bigserial PRIMARY KEY,
    ref                  text NOT NULL UNIQUE,
    label                text NOT NULL,
    description          text,
    version              text NOT NULL,
    conf_schema          jsonb NOT NULL DEFAULT '{}'::jsonb,
    config               jsonb NOT NULL DEFAULT '{}'::jsonb,
    meta                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    tags                 text[] NOT NULL DEFAULT ARRAY[]::text[],
    runtime_deps         text[] NOT NULL DEFAULT ARRAY[]::text[],
    dependencies         text[] NOT NULL DEFAULT ARRAY[]::text[],
    is_standard          boolean NOT NULL DEFAULT false,
    installers           jsonb DEFAULT '[]'::jsonb,
    source_type          text,
    source_url           text,
    source_ref           text,
    checksum             text,
    checksum_verified    boolean DEFAULT false,
    installed_at         timestamptz,
    installed_by         bigint,
    installation_method  text,
    storage_path         text,
    created              timestamptz NOT NULL DEFAULT now(),
    updated              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pack_ref_lowercase CHECK (ref = lower(ref)),
    CONSTRAINT pack_ref_format CHECK (ref ~ '^[a-z][a-z0-9_-]+$'),
    CONSTRAINT pack_version_semver CHECK (
        version ~ '^\d+\.\d+\.\d+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'
    )
);
CREATE TRIGGER update_pack_updated BEFORE UPDATE ON pack
    FOR EACH ROW EXECUTE FUNCTION update_updated_column();

CREATE TABLE action (
    id                          bigserial PRIMARY KEY,
    ref                         text NOT NULL UNIQUE,
    pack                        bigint NOT NULL REFERENCES pack (id) ON DELETE CASCADE,
    pack_ref                    text NOT NULL,
    label                       text NOT NULL,
    description                 text,
    entrypoint                  text NOT NULL,
    runtime                     bigint,
    param_schema                jsonb,
    out_schema                  jsonb,
    parameter_delivery          text NOT NULL DEFAULT 'stdin'
                                CHECK (parameter_delivery IN ('stdin', 'file')),
    parameter_format            text NOT NULL DEFAULT 'json'
                                CHECK (parameter_format IN ('dotenv', 'json', 'yaml')),
    output_format               text NOT NULL DEFAULT 'text'
                                CHECK (output_format IN ('text', 'json', 'yaml', 'jsonl')),
    is_adhoc                    boolean NOT NULL DEFAULT false,
    timeout_seconds             integer,
    max_retries                 integer DEFAULT 0,
    runtime_version_constraint  text,
    accesses_mcp                boolean NOT NULL DEFAULT false,
    default_execution_permission_set_refs text[] NOT NULL DEFAULT ARRAY[]::text[],
    log_retention_policy        artifact_retention_enum,
    log_retention_limit         integer,
    artifact_retention_policy   artifact_retention_enum,
    artifact_retention_limit    integer,
    created                     timestamptz NOT NULL DEFAULT now(),
    updated                     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT action_ref_lowercase CHECK (ref = lower(ref)),
    CONSTRAINT action_ref_format CHECK (ref ~ '^[^.]+\.[^.]+$'),
    CONSTRAINT action_log_retention_limit_positive
        CHECK (log_retention_limit IS NULL OR log_retention_limit > 0),
    CONSTRAINT action_artifact_retention_limit_positive
        CHECK (artifact_retention_limit IS NULL OR artifact_retention_limit > 0)
);
CREATE INDEX idx_action_pack ON action (pack);
CREATE TRIGGER update_action_updated BEFORE UPDATE ON action
    FOR EACH ROW EXECUTE FUNCTION update_updated_column();

CREATE TABLE workflow_definition (
    id            bigserial PRIMARY KEY,
    ref           varchar(255) NOT NULL UNIQUE,
    pack          bigint NOT NULL REFERENCES pack (id) ON DELETE CASCADE,
    pack_ref      varchar(255) NOT NULL,
    label         varchar(255) NOT NULL,
    description   text,
    version       varchar(50) NOT NULL,
    param_schema  jsonb,
    out_schema    jsonb,
    definition    jsonb NOT NULL,
    tags          text[] DEFAULT '{}',
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_workflow_def_pack ON workflow_definition (pack);
CREATE INDEX idx_workflow_def_tags ON workflow_definition USING gin (tags);
CREATE TRIGGER update_workflow_definition_updated BEFORE UPDATE ON workflow_definition
    FOR EACH ROW EXECUTE FUNCTION update_updated_column();

ALTER TABLE action
    ADD COLUMN workflow_def bigint REFERENCES workflow_definition (id) ON DELETE CASCADE,
    ADD COLUMN required_worker_runtimes jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN worker_selector jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN worker_tolerations jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN worker_affinity jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE INDEX idx_action_workflow_def ON action (workflow_def);
