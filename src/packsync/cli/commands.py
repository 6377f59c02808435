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
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from packsync.cli import exitcodes
from packsync.cli.output import Progress, join_tags, print_json, table, to_jsonable
from packsync.config import Settings
from packsync.core.diagnostics import Diagnostic
from packsync.core.results import PackOwnedElsewhere, WorkflowFilter
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
    from packsync.sync.database import (
        AttuneSchemaError,
        DatabaseUnavailable,
        is_connection_error,
        open_service,
    )

    async def go() -> int:
        migrate_now = migrate_first and not getattr(args, "no_migrate", False)
        async with open_service(settings, migrate_first=migrate_now) as service:
            return await work(service)

    try:
        return asyncio.run(go())
    except DatabaseUnavailable as exc:
        print(f"packsync: database unreachable: {exc}", file=sys.stderr)
        return exitcodes.DATABASE_UNREACHABLE
    except AttuneSchemaError as exc:
        print(f"packsync: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    except PackOwnedElsewhere as exc:
        print(f"packsync: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    except Exception as exc:
        if is_connection_error(exc):
            print(f"packsync: lost the database connection: {exc}", file=sys.stderr)
            return exitcodes.DATABASE_UNREACHABLE
        raise


def _render(diagnostics: list[Diagnostic], fmt: str, *, color: bool = False) -> str:
    from packsync.cli.formats import render

    return render(diagnostics, fmt, color=color).rstrip("\n")  # type: ignore[arg-type]


# --- commands -------------------------------------------------------------


def schema(args: argparse.Namespace) -> int:
    from packsync.schema import workflow_json_schema

    print(json.dumps(workflow_json_schema(), indent=2))
    return exitcodes.OK


def validate(args: argparse.Namespace, settings: Settings) -> int:

    bar: Progress | None = None

    def step(ref: str, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(total=total)
        bar.step(ref)

    try:
        report = check_targets(
            settings.packs_base_dir,
            args.targets,
            max_file_size=settings.max_file_size,
            progress=step,
        )
    except FileNotFoundError as exc:
        raise UsageError(f"no such pack or path: {exc.args[0]}") from None
    finally:
        if bar is not None:
            bar.close()
    color = args.color == "always" or (
        args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    )
    text = _render(report.diagnostics, args.format, color=color)
    if text:
        print(text)
    if args.format == "text":
        errors = sum(d.is_error for d in report.diagnostics)
        warnings = len(report.diagnostics) - errors
        ignored = [
            f"{n} {what} ignored by .packsyncignore"
            for n, what in ((report.files_ignored, "file(s)"), (report.packs_ignored, "pack(s)"))
            if n
        ]
        print(
            f"{len(report.packs)} pack(s), {report.files_checked} workflow file(s): "
            f"{errors} error(s), {warnings} warning(s)" + "".join(f"; {i}" for i in ignored),
            file=sys.stderr,
        )
    return exitcodes.VALIDATION_ERRORS if report.has_errors else exitcodes.OK


def _pack_line(result: Any) -> str:
    counts = ", ".join(f"{name} {n}" for name, n in result.counts().items() if n)
    return f"{result.pack_ref}: {result.outcome}" + (f" — {counts}" if counts else "")


def _totals_line(report: Any, seconds: float) -> str:
    t = report.totals
    bad = sum(1 for p in report.packs if p.has_errors)
    return (
        f"{len(report.packs)} pack(s) in {seconds:.1f} s: {t['created']} created, "
        f"{t['updated']} updated, {t['unchanged']} unchanged, {t['deleted']} deleted, "
        f"{t['failed']} failed" + (f" ({bad} pack(s) with errors)" if bad else "")
    )


def _sync_text(report: Any, diagnostics: list[Diagnostic], seconds: float, *, changes: bool) -> str:
    """Failing packs with their located diagnostics (and, with `changes`, every pack
    that changed), then one totals line."""
    lines: list[str] = []
    shown: set[Diagnostic] = set()
    for result in report.packs:
        trouble = result.outcome not in ("ok", "removed") or bool(result.problems())
        if not (trouble or (changes and result.changed)):
            continue
        lines.append(_pack_line(result))
        mine = [d for d in result.problems() if d not in shown]
        shown.update(mine)
        lines += [f"  {line}" for line in _render(mine, "text").splitlines() if line]
    rest = [d for d in diagnostics if d not in shown]
    lines += [line for line in _render(rest, "text").splitlines() if line]
    lines.append(_totals_line(report, seconds))
    return "\n".join(lines)


def _require_base_dir(settings: Settings) -> None:
    base = settings.packs_base_dir
    if not base.is_dir():
        what = "is not a directory" if base.exists() else "does not exist"
        raise UsageError(
            f"packs directory {base} {what}: set --packs-base-dir or ATTUNE__PACKS_BASE_DIR"
        )


def sync(args: argparse.Namespace, settings: Settings) -> int:
    _require_base_dir(settings)

    async def work(service: Any) -> int:
        clock = time.monotonic()
        # The total is only worth a directory listing when a terminal shows it.
        total = (
            len(args.packs or list_pack_refs(settings.packs_base_dir) or [])
            if sys.stderr.isatty()
            else 0
        )
        quiet = _quiet_pack_logs(settings, enabled=total > 1)
        started = datetime.now(UTC)
        done: list[Any] = []

        def step(result: Any) -> None:
            done.append(result)
            progress.step(result.pack_ref)

        try:
            with Progress(total=total) as progress:
                report = await service.sync_all(
                    trigger="cli",
                    only=args.packs or None,
                    allow_mass_delete=args.allow_mass_delete,
                    progress=step,
                )
        except asyncio.CancelledError:
            print(
                f"packsync: interrupted: {len(done)} pack(s) synced and committed, "
                "the pack in flight rolled back; run the same command again to finish",
                file=sys.stderr,
            )
            await service.record_interrupted(trigger="cli", started=started, done=done)
            raise
        finally:
            quiet()
        seconds = time.monotonic() - clock
        # A missing base dir is reported by the sweep and by every pack it kept: once is enough.
        diagnostics = list(
            dict.fromkeys([*report.diagnostics, *(d for r in report.packs for d in r.diagnostics)])
        )
        if args.format == "json":
            print_json(
                {
                    "outcome": report.outcome,
                    "totals": report.totals,
                    "seconds": round(seconds, 3),
                    "packs": report.packs,
                    "diagnostics": diagnostics,
                    "refused_deletes": report.refused_deletes,
                    "refused_reason": report.refused_reason,
                }
            )
        else:
            # Under a progress bar the changed packs are debug detail: the totals say it.
            changes = not sys.stdout.isatty() or settings.log_level == "debug"
            print(_sync_text(report, diagnostics, seconds, changes=changes))
            if report.refused_reason:
                hint = " (confirm with --allow-mass-delete)" if report.base_ok else ""
                print(f"packsync: deletion refused: {report.refused_reason}{hint}", file=sys.stderr)
        failed = report.has_errors or report.outcome != "ok"
        return exitcodes.VALIDATION_ERRORS if failed else exitcodes.OK

    return _with_service(args, settings, work)


def plan(args: argparse.Namespace, settings: Settings) -> int:
    """What `sync` would do, from the same planning code, writing nothing."""
    from packsync.cli.planoutput import render_github, render_markdown, render_text
    from packsync.sync.database import not_ready
    from packsync.sync.preview import plan_sweep

    _require_base_dir(settings)

    async def work(service: Any) -> int:
        missing = await not_ready(service)
        if missing:
            raise UsageError(
                f"the database is not ready for packsync (pending: {', '.join(missing)}); "
                "run `packsync migrate` first (plan never writes)"
            )
        result = await plan_sweep(
            service, only=args.packs or None, allow_mass_delete=args.allow_mass_delete
        )
        if args.format == "json":
            print_json(result.to_dict())
        elif args.format == "markdown":
            print(render_markdown(result), end="")
        elif args.format == "github":
            print(render_github(result, settings.packs_base_dir))
        else:
            print(render_text(result, diffs=not args.no_diff))
        if result.failed:
            return exitcodes.VALIDATION_ERRORS
        return exitcodes.CHANGES_PENDING if result.changes_pending else exitcodes.OK

    return _with_service(args, settings, work, migrate_first=False)


def _quiet_pack_logs(settings: Settings, *, enabled: bool) -> Callable[[], None]:
    """Under a progress bar the per-pack log lines move to debug: the bar and the
    final report say the same, once. Returns the undo."""
    logger = logging.getLogger("packsync.sync.service")
    if not enabled or settings.log_level == "debug":
        return lambda: None
    before = logger.level
    logger.setLevel(logging.ERROR)
    return lambda: logger.setLevel(before)


def list_workflows(args: argparse.Namespace, settings: Settings) -> int:
    async def work(service: Any) -> int:
        wanted = WorkflowFilter(
            pack=args.pack, tags=args.tag or (), enabled=args.enabled, search=args.search
        )
        rows, total = await service.list_workflows(wanted)
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
    from packsync.sync.database import apply_migrations

    async def work(service: Any) -> int:
        applied = await apply_migrations(service)
        print(
            f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
        )
        return exitcodes.OK

    return _with_service(args, settings, work, migrate_first=False)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from packsync.serve import run_daemon

    return asyncio.run(run_daemon(settings, migrate=not args.no_migrate))


HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "run": run,
    "sync": sync,
    "plan": plan,
    "validate": validate,
    "list": list_workflows,
    "count": count,
    "delete": delete,
    "migrate": migrate,
}
