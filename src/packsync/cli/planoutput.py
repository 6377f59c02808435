"""`packsync plan` rendered as text (a terminal), markdown (a pull-request
comment: a summary table and collapsible diffs) or GitHub annotations; the
JSON form is `PlanReport.to_dict()`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from packsync.cli.formats import github_line, notice_line, render
from packsync.core.diagnostics import Diagnostic
from packsync.core.results import PackResult, WorkflowResult
from packsync.sync.preview import VERBS, PlanReport, WorkflowDiff

_MARKS = {"create": "+", "update": "~", "delete": "-", "failed": "!", "refused": "="}
_SHOWN = ("create", "update", "delete", "failed")
# GitHub refuses comments over 65,536 characters: diffs past this budget are left out.
MARKDOWN_DIFF_BUDGET = 55_000


def summary_line(plan: PlanReport) -> str:
    t = plan.report.totals
    packs = len(plan.report.packs)
    counts = (
        f"{t['created']} to create, {t['updated']} to update, {t['deleted']} to delete, "
        f"{t['unchanged']} unchanged, {t['failed']} failing; {packs} pack(s)"
    )
    refused = len(plan.report.refused_deletes)
    if refused:
        counts += f"; {refused} pack removal(s) refused by the deletion guard"
    if plan.changes_pending:
        return f"Plan: {counts}."
    return f"No changes: {counts}."


def _interesting(plan: PlanReport, result: PackResult) -> bool:
    preview = plan.preview(result.pack_ref)
    return (
        result.outcome not in ("ok", "removed")
        or bool(result.problems())
        or result.changed
        or bool(preview.pack_change)
        or any(w.change == "failed" for w in result.workflows)
    )


def _pack_heading(plan: PlanReport, result: PackResult) -> str:
    counts = ", ".join(
        f"{n} {VERBS[name] if name != 'unchanged' else name}"
        for name, n in result.counts().items()
        if n and name != "loaded"
    )
    change = plan.preview(result.pack_ref).pack_change
    head = f"{result.pack_ref}: {result.outcome}" + (f" — {counts}" if counts else "")
    if change:
        head += f" (pack row: {change})"
    if result.message:
        head += f" ({result.message})"
    return head


def _entries(plan: PlanReport, result: PackResult) -> Iterator[tuple[str, WorkflowResult]]:
    for wr in result.workflows:
        verb = VERBS[wr.change]
        if verb in _SHOWN:
            yield verb, wr
    for wr in plan.preview(result.pack_ref).refused:
        yield "refused", wr


def _diff_text(found: WorkflowDiff | None) -> str:
    if found is None:
        return ""
    text = found.definition + found.action
    if not text:
        return "(the stored rows do not change: only the file's bytes did)\n"
    return text


def render_text(plan: PlanReport, *, diffs: bool = True) -> str:
    lines: list[str] = []
    shown: set[Diagnostic] = set()
    for result in plan.report.packs:
        if not _interesting(plan, result):
            continue
        lines.append(_pack_heading(plan, result))
        for verb, wr in _entries(plan, result):
            where = f"  ({wr.file_path})" if wr.file_path else ""
            note = "  — keeps its last good version" if verb == "failed" and wr.id else ""
            lines.append(f"  {_MARKS[verb]} {verb:<8} {wr.ref}{where}{note}")
            if diffs and verb in ("create", "update", "delete"):
                body = _diff_text(plan.diff_of(result.pack_ref, wr))
                lines += [f"      {line}".rstrip() for line in body.splitlines()]
        mine = [d for d in result.problems() if d not in shown]
        shown.update(mine)
        lines += [f"  {line}" for line in render(mine, "text").splitlines() if line]
    rest = [d for d in plan.report.diagnostics if d not in shown]
    lines += [line for line in render(rest, "text").splitlines() if line]
    lines.append(summary_line(plan))
    return "\n".join(lines)


def _md(text: str) -> str:
    """Table-cell and inline text: no pipes, no HTML, no line breaks."""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )


def _fence(body: str) -> str:
    ticks = "```"
    while ticks in body:
        ticks += "`"
    return f"{ticks}diff\n{body}{ticks}"


def render_markdown(plan: PlanReport) -> str:
    """A pull-request comment: verdict, a table of the packs that change or
    fail, each change with its diff folded in a <details> block, problems."""
    out = ["### packsync plan", "", f"**{_md(summary_line(plan))}**", ""]
    packs = [r for r in plan.report.packs if _interesting(plan, r)]
    if packs:
        out += [
            "| Pack | Outcome | Create | Update | Delete | Unchanged | Failing | Pack row |",
            "|---|---|--:|--:|--:|--:|--:|---|",
        ]
        for r in packs:
            change = plan.preview(r.pack_ref).pack_change or ""
            out.append(
                f"| `{_md(r.pack_ref)}` | {r.outcome} | {r.created} | {r.updated} | "
                f"{r.deleted} | {r.unchanged} | {r.failed} | {change} |"
            )
        out.append("")
    budget = MARKDOWN_DIFF_BUDGET
    for r in packs:
        entries = list(_entries(plan, r))
        problems = r.problems()
        if not entries and not problems and not r.message:
            continue
        out += [f"#### `{_md(r.pack_ref)}`", ""]
        if r.message:
            out += [f"> {_md(r.message)}", ""]
        for verb, wr in entries:
            title = f"{_MARKS[verb]} {verb} <code>{_md(wr.ref)}</code>"
            if wr.file_path:
                title += f" ({_md(wr.file_path)})"
            body = _diff_text(plan.diff_of(r.pack_ref, wr)) if verb in _SHOWN[:3] else ""
            if not body:
                out.append(f"- {title}")
                continue
            if len(body) > budget:
                out.append(f"- {title}: diff left out (comment size limit); run `packsync plan`")
                continue
            budget -= len(body)
            out += [f"<details><summary>{title}</summary>", "", _fence(body), "", "</details>"]
        if problems:
            out += ["", "<details><summary>problems</summary>", ""]
            out += ["```", render(problems, "text").rstrip("\n"), "```", "", "</details>"]
        out.append("")
    rest = [
        d for d in plan.report.diagnostics if d not in {*(x for r in packs for x in r.problems())}
    ]
    if rest:
        out += ["```", render(rest, "text").rstrip("\n"), "```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def render_github(plan: PlanReport, base_dir: Path) -> str:
    """A notice on each file the sync would change, the problems as errors
    and warnings, and the verdict as a final notice."""
    lines: list[str] = []
    shown: set[Diagnostic] = set()
    for result in plan.report.packs:
        root = base_dir / result.pack_ref
        for verb, wr in _entries(plan, result):
            if verb == "failed":
                continue  # its diagnostics say it, located
            file = str(root / wr.file_path) if wr.file_path else str(root)
            lines.append(notice_line(file, f"packsync plan: {verb}", f"{verb} {wr.ref}"))
        mine = [d for d in result.problems() if d not in shown]
        shown.update(mine)
        lines += [github_line(d) for d in mine]
    lines += [github_line(d) for d in plan.report.diagnostics if d not in shown]
    lines.append(notice_line(str(base_dir), "packsync plan", summary_line(plan)))
    return "\n".join(lines)
