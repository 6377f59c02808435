"""Jinja2 template checks: syntax (parse only, never render) and variables
that are defined nowhere (warning).

Templates are looked for in every string of the workflow except the places
that are never rendered (schemas, labels, descriptions, editor metadata).
Parse results are cached per template text: big workflows repeat them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import jinja2
import jinja2.meta

from packsync.pipeline.validate.report import Reporter, did_you_mean
from packsync.pipeline.yamlsafe import YMap, YNode, YScalar, YSeq

MAX_TEMPLATE_NESTING = 64
SKIPPED_KEYS = frozenset(
    {"parameters", "output", "description", "label", "version", "ref", "tags", "__chart_meta__"}
)
# Names every template may use: the execution context and the functions of the engine.
CONTEXT_NAMES = frozenset(
    {
        "item", "index", "batch", "task", "tasks", "parent", "workflow", "execution", "system",
        "kv", "pack", "config", "parameters", "vars", "result", "ctx", "succeeded", "failed",
        "completed", "timed_out", "task_status", "json", "zip", "now", "env", "range", "dict",
        "lipsum", "cycler", "joiner", "namespace", "loop", "true", "false", "none", "True",
        "False", "None",
    }
)  # fmt: skip

_ENV = jinja2.Environment(
    extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
    autoescape=True,
)  # parse only: nothing is ever rendered


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def _nesting(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest


@lru_cache(maxsize=4096)
def analyse(text: str) -> tuple[str | None, frozenset[str]]:
    """(syntax error message or None, undeclared variable names)."""
    if _nesting(text) > MAX_TEMPLATE_NESTING:
        return (
            f"template nests deeper than {MAX_TEMPLATE_NESTING} brackets: simplify it",
            frozenset(),
        )
    try:
        ast = _ENV.parse(text)
        return None, frozenset(jinja2.meta.find_undeclared_variables(ast))
    except jinja2.TemplateSyntaxError as exc:
        where = f" (template line {exc.lineno})" if exc.lineno and exc.lineno > 1 else ""
        return f"Jinja2 syntax error: {exc.message}{where}", frozenset()
    except (RecursionError, MemoryError):
        return "template is too complex to parse: simplify it", frozenset()


def template_strings(node: YNode) -> Iterator[YScalar]:
    """Every string scalar that looks like a template, outside skipped keys."""
    stack: list[YNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, YMap):
            for key, (_, value) in current.items.items():
                if key not in SKIPPED_KEYS:
                    stack.append(value)
        elif isinstance(current, YSeq):
            stack.extend(current.items)
        elif (
            isinstance(current, YScalar)
            and isinstance(current.value, str)
            and is_template(current.value)
        ):
            yield current


def check_templates(root: YNode, defined: set[str], rep: Reporter) -> None:
    known = defined | CONTEXT_NAMES
    for scalar in sorted(template_strings(root), key=lambda n: (n.line, n.column)):
        problem, names = analyse(str(scalar.value))
        if problem:
            rep.error("template-syntax", f"{problem}: fix the {{{{ }}}} / {{% %}} template", scalar)
            continue
        for name in sorted(names - known):
            if rep.full:
                rep.warning("undefined-variable", "", scalar)
                continue
            rep.warning(
                "undefined-variable",
                f"template uses {name!r}, which is defined nowhere (not a parameter, var, "
                f"published name or task){did_you_mean(name, defined)}",
                scalar,
            )
