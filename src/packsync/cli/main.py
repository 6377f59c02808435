"""Argument parsing and dispatch. Every command's work lives in commands.py;
this module only turns argv into Settings and a handler call, and maps the
failures every command shares onto the exit codes of SPEC §9."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from packsync import __version__
from packsync.cli import commands, exitcodes
from packsync.cli import history as history_cli
from packsync.config import (
    CONFIG_FILE_ENV,
    ENV_PREFIX,
    ConfigError,
    HttpSettings,
    Settings,
    load_settings,
)
from packsync.logs import configure_logging


def _setting_help(text: str, setting: str) -> str:
    """Option help that names the setting's env variable and default (SPEC §9)."""
    name, _, sub = setting.partition(".")
    field = Settings.model_fields[name]
    default: object = field.default
    if sub:
        default = HttpSettings.model_fields[sub].default
    elif field.default_factory is not None:
        default = "$XDG_DATA_HOME/packsync" if name == "state_dir" else None
    env = f"{ENV_PREFIX}{name.upper()}" + (f"__{sub.upper()}" if sub else "")
    shown = "unset" if default is None else str(default)
    return f"{text} [env {env}; default: {shown}]"


def _common() -> argparse.ArgumentParser:
    """Options every subcommand takes (so they may follow the subcommand)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("configuration (flags win over ATTUNE__* env and --config)")
    g.add_argument(
        "--config", type=Path, metavar="FILE", help=f"YAML config file [env {CONFIG_FILE_ENV}]"
    )
    g.add_argument(
        "--packs-base-dir",
        "--base-dir",
        dest="packs_base_dir",
        type=Path,
        metavar="DIR",
        help=_setting_help("the packs directory", "packs_base_dir"),
    )
    g.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help=_setting_help("log level", "log_level"),
    )
    g.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        help=_setting_help("console on a terminal, else JSON", "log_format"),
    )
    return p


def _db_opts() -> argparse.ArgumentParser:
    """Options of the commands that talk to the database."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("database")
    g.add_argument(
        "--database-url",
        metavar="URL",
        help=_setting_help("PostgreSQL URL; unset: embedded PostgreSQL", "database_url"),
    )
    g.add_argument(
        "--state-schema",
        metavar="NAME",
        help=_setting_help("schema of packsync's own state", "state_schema"),
    )
    g.add_argument(
        "--db-schema", metavar="NAME", help=_setting_help("schema of Attune's tables", "db_schema")
    )
    g.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help=_setting_help("where the embedded PostgreSQL lives", "state_dir"),
    )
    g.add_argument(
        "--sync-group",
        metavar="NAME",
        help=_setting_help("hosts of one group own their packs", "sync_group"),
    )
    return p


def _no_migrate() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--no-migrate", action="store_true", help="do not apply pending migrations first"
    )
    return p


def _fmt(p: argparse.ArgumentParser, *extra: str) -> None:
    p.add_argument(
        "--format", choices=["text", "json", *extra], default="text", help="output format"
    )


def _command(
    sub: Any, name: str, summary: str, description: str, examples: str, parents: list[Any]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        parents=parents,
        help=summary,
        description=description,
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples.strip().splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="packsync",
        description="Keep an Attune workflow database true to the packs on disk.",
        epilog=(
            "Every setting is also an environment variable ATTUNE__<NAME> or a key of the\n"
            "--config file; `packsync COMMAND --help` lists each command's options.\n"
            "exit codes: 0 ok, 1 validation errors, 2 usage or configuration,\n"
            "3 database unreachable, 4 changes pending (plan only)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"packsync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common, db = _common(), [_db_opts(), _no_migrate()]

    p = _command(
        sub,
        "run",
        "run the daemon (watch and sync)",
        "Watch the packs directory, sync each changed pack after a quiet gap, reconcile\n"
        "everything periodically, and serve /healthz, /readyz, /status, /metrics and /api/v1.\n"
        "SIGTERM/SIGINT stop it cleanly; SIGHUP forces a full reconcile.",
        "packsync run --packs-base-dir /opt/attune/packs --port 9477\n"
        "ATTUNE__DATABASE_URL=postgresql://attune@db/attune packsync run",
        [common, *db],
    )
    p.add_argument(
        "--host",
        dest="http_host",
        metavar="ADDR",
        help=_setting_help("HTTP bind address", "http.host"),
    )
    p.add_argument(
        "--port", dest="http_port", type=int, help=_setting_help("HTTP port", "http.port")
    )

    p = _command(
        sub,
        "sync",
        "sync packs into the database",
        "Make the database match the packs on disk: every pack, or the named ones, each in\n"
        "one transaction. Prints what changed, each failing file's located diagnostics and\n"
        "a totals line. Exit 1 when a file or pack failed or a mass delete was refused.",
        "packsync sync\npacksync sync demo ops --format json\npacksync sync --allow-mass-delete",
        [common, *db],
    )
    p.add_argument("packs", nargs="*", metavar="PACK", help="pack refs (default: all)")
    p.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="confirm a sweep that deletes more than max_delete_fraction of the packs",
    )
    _fmt(p)

    p = _command(
        sub,
        "plan",
        "show what a sync would do, writing nothing",
        "Run the sync's own planning (the same lock, load, plan and deletion guard) in\n"
        "read-only transactions and print, per pack and workflow, what `packsync sync`\n"
        "would do: create, update, delete, unchanged, failed (keeps its last good\n"
        "version), refused (deletion guard) or conflict, with a unified diff of each\n"
        "changed row in the form Attune stores and runs (the workflow_definition row and\n"
        "its action row). Never migrates: run `packsync migrate` first on a new database.\n"
        "exit codes: 0 nothing to do, 1 the sync would report errors (failing files or\n"
        "packs, conflicts, a refused deletion), 2 usage, 3 database unreachable,\n"
        "4 changes pending.",
        "packsync plan --database-url postgresql://attune@db/attune\n"
        "packsync plan demo --format markdown > plan.md   # a pull-request comment\n"
        "packsync plan --format github                    # annotations in GitHub Actions",
        [common, _db_opts()],
    )
    p.add_argument("packs", nargs="*", metavar="PACK", help="pack refs (default: all)")
    p.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="plan as `sync --allow-mass-delete` would run",
    )
    p.add_argument(
        "--no-diff", action="store_true", help="text format: list the changes without diffs"
    )
    _fmt(p, "markdown", "github")

    p = _command(
        sub,
        "validate",
        "validate packs offline (no database)",
        "Parse and validate workflow files without a database: pack refs, pack folders,\n"
        "a packs directory, or single files wherever they are. Exit 1 on any error.",
        "packsync validate\n"
        "packsync validate packs/demo packs/ops/workflows/triage.workflow.yaml\n"
        "packsync validate --format github   # annotations in GitHub Actions",
        [common],
    )
    p.add_argument("targets", nargs="*", metavar="PACK|PATH")
    _fmt(p, "github")
    p.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the text output (auto: on a terminal, unless NO_COLOR is set)",
    )

    p = _command(
        sub,
        "list",
        "list registered workflows",
        "List the workflows registered in the database, filtered and searched.",
        "packsync list --pack demo\n"
        "packsync list --tag backup --tag nightly --enabled --format json",
        [common, *db],
    )
    p.add_argument("--pack", help="only this pack")
    p.add_argument("--tag", action="append", default=[], help="any of these tags (repeatable)")
    en = p.add_mutually_exclusive_group()
    en.add_argument(
        "--enabled",
        dest="enabled",
        action="store_true",
        default=None,
        help="only enabled workflows",
    )
    en.add_argument(
        "--disabled", dest="enabled", action="store_false", help="only disabled workflows"
    )
    p.add_argument("--search", help="case-insensitive match on ref, label, description")
    _fmt(p)

    p = _command(
        sub,
        "count",
        "count a pack's workflows",
        "Print how many workflows are registered for a pack.",
        "packsync count demo",
        [common, *db],
    )
    p.add_argument("pack")
    _fmt(p)

    p = _command(
        sub,
        "delete",
        "delete a pack's file workflows",
        "Delete the workflows packsync registered from a pack's files (rows created\n"
        "through Attune's API or UI are never touched).",
        "packsync delete demo",
        [common, *db],
    )
    p.add_argument("pack")
    _fmt(p)

    history_cli.add_parsers(sub, _command, _fmt, [common, *db])

    _command(
        sub,
        "migrate",
        "apply pending database migrations",
        "Create or upgrade packsync's tables (every writing command does this first\n"
        "unless --no-migrate).",
        "packsync migrate --database-url postgresql://attune@db/attune",
        [common, *db],
    )
    _command(
        sub,
        "schema",
        "print the JSON Schema of the workflow file format",
        "Print the JSON Schema of the workflow file format, for editors\n"
        "(yaml-language-server) and CI.",
        "packsync schema > workflow.schema.json",
        [],
    )
    p = _command(
        sub,
        "completion",
        "print a shell completion script",
        "Print a completion script for bash, zsh or tcsh (generated by shtab).",
        "packsync completion bash > /etc/bash_completion.d/packsync\n"
        "packsync completion zsh > ~/.zfunc/_packsync",
        [],
    )
    p.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "packs_base_dir": getattr(args, "packs_base_dir", None),
        "database_url": getattr(args, "database_url", None),
        "db_schema": getattr(args, "db_schema", None),
        "state_schema": getattr(args, "state_schema", None),
        "state_dir": getattr(args, "state_dir", None),
        "sync_group": getattr(args, "sync_group", None),
        "log_level": getattr(args, "log_level", None),
        "log_format": getattr(args, "log_format", None),
    }
    http = {
        k: v
        for k, v in (
            ("host", getattr(args, "http_host", None)),
            ("port", getattr(args, "http_port", None)),
        )
        if v is not None
    }
    settings = load_settings(getattr(args, "config", None), **overrides)
    if http:
        settings = settings.model_copy(update={"http": settings.http.model_copy(update=http)})
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "schema":
        return commands.schema(args)
    if args.command == "completion":
        import shtab

        print(shtab.complete(parser, shell=args.shell))
        return exitcodes.OK
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"packsync: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    configure_logging(settings.log_level, settings.log_format)
    handler = {**commands.HANDLERS, **history_cli.HANDLERS}[args.command]
    try:
        return int(handler(args, settings))
    except KeyboardInterrupt:
        return 130
    except commands.UsageError as exc:
        print(f"packsync: {exc}", file=sys.stderr)
        return exitcodes.USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
