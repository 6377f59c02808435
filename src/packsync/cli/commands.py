"""One function per subcommand: `(args, settings) -> exit code`.

Database commands share `_with_service`, which opens the pool (embedded
PostgreSQL when no URL is set), applies pending migrations unless
`--no-migrate`, and maps an unreachable database onto exit code 3 with one
line and a masked URL — never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from packsync.cli import exitcodes
from packsync.cli.output import Progress, join_tags, print_json, table, to_jsonable
from packsync.config import Settings
from packsync.diagnostics import Diagnostic
from packsync.pipeline.check import check_targets
from packsync.pipeline.scan import list_pack_refs


class UsageError(Exception):
    """Bad arguments the parser could not catch: exit code 2."""


def _with_service(
    args: argparse.Namespace,
    settings: Settings,
    work: Callable[[Any], Awaitable[int]],
    *,
    migrate_first: bool = True,
) -> int:
    from packsync.db.connection import DatabaseUnavailable, create_pool, is_connection_error
    from packsync.db.migrate import AttuneSchemaError, migrate
    from packsync.service import SyncService

    async def go() -> int:
        pool = await create_pool(settings)
        try:
            if migrate_first and not getattr(args, "no_migrate", False):
                await migrate(pool, settings.db_schema, settings.state_schema)
            return await work(SyncService(settings, pool))
        finally:
            await pool.close()

    try:
        return asyncio.run(go())
    except DatabaseUnavailable as exc:
        print(f"packsync: database unreachable: {exc}", file=sys.stderr)
        return exitcodes.DATABASE_UNREACHABLE
    except AttuneSchemaError as exc:
        print(f"packsync: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    except Exception as exc:
        if is_connection_error(exc):
            print(f"packsync: lost the database connection: {exc}", file=sys.stderr)
            return exitcodes.DATABASE_UNREACHABLE
        raise


def _render(diagnostics: list[Diagnostic], fmt: str, *, color: bool = False) -> str:
    from packsync.formats import render

    return render(diagnostics, fmt, color=color).rstrip("\n")  # type: ignore[arg-type]


# --- commands -------------------------------------------------------------


def schema(args: argparse.Namespace) -> int:
    from packsync.schema import workflow_json_schema

    print(json.dumps(workflow_json_schema(), indent=2))
    return exitcodes.OK


def validate(args: argparse.Namespace, settings: Settings) -> int:
    try:
        report = check_targets(
            settings.packs_base_dir, args.targets, max_file_size=settings.max_file_size
        )
    except FileNotFoundError as exc:
        raise UsageError(f"no such pack or path: {exc.args[0]}") from None
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    text = _render(report.diagnostics, args.format, color=color)
    if text:
        print(text)
    if args.format == "text":
        errors = sum(d.is_error for d in report.diagnostics)
        warnings = len(report.diagnostics) - errors
        print(
            f"{len(report.packs)} pack(s), {report.files_checked} workflow file(s): "
            f"{errors} error(s), {warnings} warning(s)",
            file=sys.stderr,
        )
    return exitcodes.VALIDATION_ERRORS if report.has_errors else exitcodes.OK


def _pack_line(result: Any) -> str:
    return (
        f"{result.pack_ref}: {result.outcome} — loaded {result.loaded}, created {result.created}, "
        f"updated {result.updated}, unchanged {result.unchanged}, deleted {result.deleted}, "
        f"failed {result.failed}"
    )


def sync(args: argparse.Namespace, settings: Settings) -> int:
    async def work(service: Any) -> int:
        # The total is only worth a directory listing when a terminal shows it.
        total = (
            len(args.packs or list_pack_refs(settings.packs_base_dir) or [])
            if sys.stderr.isatty()
            else 0
        )
        progress = Progress(total=total)
        report = await service.sync_all(
            trigger="cli",
            only=args.packs or None,
            allow_mass_delete=args.allow_mass_delete,
            progress=lambda result: progress.step(result.pack_ref),
        )
        progress.close()
        # A missing base dir is reported by the sweep and by every pack it kept: once is enough.
        diagnostics = list(
            dict.fromkeys([*report.diagnostics, *(d for r in report.packs for d in r.diagnostics)])
        )
        if args.format == "json":
            print_json(
                {
                    "outcome": report.outcome,
                    "totals": report.totals,
                    "packs": report.packs,
                    "diagnostics": diagnostics,
                    "refused_deletes": report.refused_deletes,
                    "refused_reason": report.refused_reason,
                }
            )
        else:
            for result in report.packs:
                print(_pack_line(result))
            if diagnostics:
                print(_render(diagnostics, "text"), file=sys.stderr)
            if report.refused_reason:
                hint = " (confirm with --allow-mass-delete)" if report.base_ok else ""
                print(f"packsync: deletion refused: {report.refused_reason}{hint}", file=sys.stderr)
        failed = report.has_errors or report.outcome != "ok"
        return exitcodes.VALIDATION_ERRORS if failed else exitcodes.OK

    return _with_service(args, settings, work)


def list_workflows(args: argparse.Namespace, settings: Settings) -> int:
    async def work(service: Any) -> int:
        rows, total = await service.list_workflows(
            pack=args.pack, tags=args.tag, enabled=args.enabled, search=args.search
        )
        if args.format == "json":
            print_json({"total": total, "workflows": rows})
        else:
            data = [to_jsonable(r) for r in rows]
            print(
                table(
                    [
                        (
                            r["ref"],
                            r.get("pack_ref"),
                            "yes" if r.get("enabled") else "no",
                            r.get("source"),
                            join_tags(r.get("tags")),
                            r.get("label"),
                        )
                        for r in data
                    ],
                    ["REF", "PACK", "ENABLED", "SOURCE", "TAGS", "LABEL"],
                )
            )
            print(f"{total} workflow(s)", file=sys.stderr)
        return exitcodes.OK

    return _with_service(args, settings, work)


def count(args: argparse.Namespace, settings: Settings) -> int:
    async def work(service: Any) -> int:
        n = await service.count_workflows(args.pack)
        if args.format == "json":
            print_json({"pack_ref": args.pack, "count": n})
        else:
            print(n)
        return exitcodes.OK

    return _with_service(args, settings, work)


def delete(args: argparse.Namespace, settings: Settings) -> int:
    async def work(service: Any) -> int:
        n = await service.delete_pack(args.pack)
        if args.format == "json":
            print_json({"pack_ref": args.pack, "deleted": n})
        else:
            print(f"{args.pack}: deleted {n} file-managed workflow(s)")
        return exitcodes.OK

    return _with_service(args, settings, work)


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    from packsync.db.migrate import migrate as apply

    async def work(service: Any) -> int:
        applied = await apply(service.pool, settings.db_schema, settings.state_schema)
        print(
            f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
        )
        return exitcodes.OK

    return _with_service(args, settings, work, migrate_first=False)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from packsync.daemon.runner import run_daemon

    return asyncio.run(run_daemon(settings, migrate=not args.no_migrate))


HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "run": run,
    "sync": sync,
    "validate": validate,
    "list": list_workflows,
    "count": count,
    "delete": delete,
    "migrate": migrate,
}
