"""Argument parsing and dispatch. Every command's work lives in commands.py;
this module only turns argv into Settings and a handler call, and maps the
failures every command shares onto the exit codes of SPEC §9."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from packsync import __version__
from packsync.cli import commands, exitcodes
from packsync.config import ConfigError, Settings, load_settings
from packsync.logs import configure_logging


def _common() -> argparse.ArgumentParser:
    """Options every subcommand takes (so they may follow the subcommand)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("configuration (flags win over ATTUNE__* env and --config)")
    g.add_argument("--config", type=Path, help="YAML config file (also ATTUNE__CONFIG_FILE)")
    g.add_argument("--packs-base-dir", "--base-dir", dest="packs_base_dir", type=Path)
    g.add_argument("--database-url", help="PostgreSQL URL; unset: embedded PostgreSQL")
    g.add_argument("--db-schema", help="schema of Attune's tables (default attune)")
    g.add_argument("--state-schema", help="schema of packsync's own state (default packsync)")
    g.add_argument("--state-dir", type=Path, help="where the embedded PostgreSQL lives")
    g.add_argument("--sync-group")
    g.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    g.add_argument("--log-format", choices=["auto", "json", "console"])
    return p


def _db_opts() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--no-migrate", action="store_true", help="do not apply pending migrations first"
    )
    return p


def _fmt(p: argparse.ArgumentParser, *extra: str) -> None:
    p.add_argument("--format", choices=["text", "json", *extra], default="text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="packsync",
        description="Keep an Attune workflow database true to the packs on disk.",
    )
    parser.add_argument("--version", action="version", version=f"packsync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common, db = _common(), _db_opts()

    p = sub.add_parser("run", parents=[common, db], help="run the daemon (watch and sync)")
    p.add_argument("--host", dest="http_host", help="HTTP bind address")
    p.add_argument("--port", dest="http_port", type=int, help="HTTP port")

    p = sub.add_parser("sync", parents=[common, db], help="sync packs into the database")
    p.add_argument("packs", nargs="*", metavar="PACK", help="pack refs (default: all)")
    p.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="confirm a sweep that deletes more than max_delete_fraction of the packs",
    )
    _fmt(p)

    p = sub.add_parser("validate", parents=[common], help="validate packs offline (no database)")
    p.add_argument("targets", nargs="*", metavar="PACK|PATH")
    _fmt(p, "github")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto")

    p = sub.add_parser("list", parents=[common, db], help="list registered workflows")
    p.add_argument("--pack")
    p.add_argument("--tag", action="append", default=[], help="any of these tags (repeatable)")
    en = p.add_mutually_exclusive_group()
    en.add_argument("--enabled", dest="enabled", action="store_true", default=None)
    en.add_argument("--disabled", dest="enabled", action="store_false")
    p.add_argument("--search", help="case-insensitive match on ref, label, description")
    _fmt(p)

    p = sub.add_parser("count", parents=[common, db], help="count a pack's workflows")
    p.add_argument("pack")
    _fmt(p)

    p = sub.add_parser("delete", parents=[common, db], help="delete a pack's file workflows")
    p.add_argument("pack")
    _fmt(p)

    sub.add_parser("migrate", parents=[common], help="apply pending database migrations")
    sub.add_parser("schema", help="print the JSON Schema of the workflow file format")
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
    args = build_parser().parse_args(argv)
    if args.command == "schema":
        return commands.schema(args)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"packsync: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    configure_logging(settings.log_level, settings.log_format)
    handler = commands.HANDLERS[args.command]
    try:
        return int(handler(args, settings))
    except KeyboardInterrupt:
        return 130
    except commands.UsageError as exc:
        print(f"packsync: {exc}", file=sys.stderr)
        return exitcodes.USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
