"""`packsync history`, `packsync diff` and `packsync restore`: the definition
history (versions.py) on the command line.

Exit codes: 0 done (a file-managed restore prints the file content to put
back and writes nothing: still 0, the guidance goes to stderr); 1 the restore
was refused (the version no longer validates, the workflow is Attune's own);
2 the ref or version is not in the history; 3 database unreachable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from packsync.cli import exitcodes
from packsync.cli.commands import UsageError, _with_service
from packsync.cli.output import print_json, table
from packsync.config import Settings

_SHORT = 12


def _short(sha: str | None) -> str:
    return sha[:_SHORT] if sha else ""


def _versions(service: Any) -> Any:
    from packsync.sync.versions import VersionService

    return VersionService(service.settings, service.pool)


def history(args: argparse.Namespace, settings: Settings) -> int:
    from packsync.sync.versions import HistoryError

    async def work(service: Any) -> int:
        try:
            versions = await _versions(service).versions(args.ref)
        except HistoryError as exc:
            raise UsageError(str(exc)) from None
        if args.format == "json":
            listed = [v.to_dict(definition=False) for v in versions]
            print_json({"ref": args.ref, "versions": listed})
            return exitcodes.OK
        rows = [
            (
                v.version,
                v.created.strftime("%Y-%m-%d %H:%M:%S%z"),
                "deleted" if v.deleted else _short(v.definition_hash),
                v.trigger,
                v.source,
                _short(v.git_commit),
                v.file_path,
            )
            for v in versions
        ]
        print(table(rows, ["N", "TIME", "HASH", "TRIGGER", "SOURCE", "GIT", "FILE"]))
        return exitcodes.OK

    return _with_service(args, settings, work)


def diff(args: argparse.Namespace, settings: Settings) -> int:
    from packsync.sync.versions import HistoryError, unified_diff

    async def work(service: Any) -> int:
        try:
            old, new = await _versions(service).pair(args.ref, args.old, args.new)
        except HistoryError as exc:
            raise UsageError(str(exc)) from None
        text = unified_diff(old, new, args.style)
        if args.format == "json":
            print_json({"ref": args.ref, "from": old.version, "to": new.version, "diff": text})
        elif text:
            print(text, end="")
        else:
            same = f"{args.ref}: versions {old.version} and {new.version} are the same"
            print(same, file=sys.stderr)
        return exitcodes.OK

    return _with_service(args, settings, work)


def restore(args: argparse.Namespace, settings: Settings) -> int:
    from packsync.sync.api_workflows import ApiWorkflowError, InvalidWorkflow
    from packsync.sync.versions import HistoryError

    async def work(service: Any) -> int:
        try:
            done = await _versions(service).restore(args.ref, args.version)
        except HistoryError as exc:
            raise UsageError(str(exc)) from None
        except ApiWorkflowError as exc:
            print(f"packsync: cannot restore: {exc}", file=sys.stderr)
            if isinstance(exc, InvalidWorkflow):
                for d in exc.diagnostics:
                    print(f"  {d.format()}", file=sys.stderr)
            return exitcodes.VALIDATION_ERRORS
        if args.format == "json":
            print_json(done)
        elif done.action == "file":
            print(done.content, end="")
            print(
                f"packsync: '{args.ref}' is managed by the file {done.file}: nothing was "
                f"written; put the content above (version {args.version}) into that file "
                "and the next sync registers it",
                file=sys.stderr,
            )
        elif done.action == "unchanged":
            print(f"{args.ref}: version {args.version} is already the current definition")
        else:
            assert done.version is not None
            print(f"{args.ref}: restored version {args.version} as version {done.version.version}")
        return exitcodes.OK

    return _with_service(args, settings, work)


HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "history": history,
    "diff": diff,
    "restore": restore,
}


def add_parsers(
    sub: Any,
    command: Callable[..., argparse.ArgumentParser],
    fmt: Callable[[argparse.ArgumentParser], None],
    parents: list[Any],
) -> None:
    """The three subcommands, with main.py's `_command` and `_fmt` helpers."""
    p = command(
        sub,
        "history",
        "list the recorded versions of a workflow",
        "List the versions packsync recorded of a workflow's stored definition: number,\n"
        "time, definition hash, trigger, source (file or api), git commit of the pack and\n"
        "file. A version is recorded whenever a sync or the API changes the definition\n"
        "(docs/history.md); the oldest beyond history_keep are pruned.",
        "packsync history demo.deploy\npacksync history demo.deploy --format json",
        parents,
    )
    p.add_argument("ref", help="workflow ref, <pack>.<name>")
    fmt(p)

    p = command(
        sub,
        "diff",
        "show how a workflow's definition changed",
        "Unified diff of two recorded versions of a workflow's stored definition (the form\n"
        "Attune runs), rendered as stable YAML or JSON. No version: the latest against the\n"
        "one before it; one version: that one against the latest.",
        "packsync diff demo.deploy\npacksync diff demo.deploy 3\n"
        "packsync diff demo.deploy 3 5 --style json",
        parents,
    )
    p.add_argument("ref", help="workflow ref, <pack>.<name>")
    p.add_argument(
        "old", nargs="?", type=int, metavar="V1", help="older version (default: previous)"
    )
    p.add_argument("new", nargs="?", type=int, metavar="V2", help="newer version (default: latest)")
    p.add_argument(
        "--style", choices=["yaml", "json"], default="yaml", help="how definitions are rendered"
    )
    fmt(p)

    p = command(
        sub,
        "restore",
        "bring back a recorded version of a workflow",
        "API-managed workflow: write version V back as a new version, validated and\n"
        "written like an API update (companion action included). File-managed workflow:\n"
        "print the file content of version V (YAML) to put back into its file, and write\n"
        "nothing: the file stays the source of truth. Exit 0 in both cases; 1 when the\n"
        "version no longer validates or the workflow is Attune's own; 2 for an unknown\n"
        "ref or version.",
        "packsync restore ops.notify 3\npacksync restore demo.deploy 2 > deploy.yaml",
        parents,
    )
    p.add_argument("ref", help="workflow ref, <pack>.<name>")
    p.add_argument("version", type=int, metavar="V", help="the version to bring back")
    fmt(p)
