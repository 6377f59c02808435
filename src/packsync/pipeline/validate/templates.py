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
from jinja2 import nodes

from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.yamlsafe import YMap, YNode, YScalar, YSeq

MAX_TEMPLATE_NESTING = 64
SKIPPED_TOP_KEYS = frozenset(
    {"parameters", "output", "description", "label", "version", "ref", "tags", "name"}
)
SKIPPED_KEYS = frozenset({"__chart_meta__"})
# Names every template may use: the execution context and the functions of the engine.
CONTEXT_NAMES = frozenset(
    {
        "item", "index", "batch", "task", "tasks", "parent", "workflow", "execution", "system",
        "kv", "pack", "config", "parameters", "vars", "result", "ctx", "succeeded", "failed",
        "completed", "timed_out", "task_status", "json", "zip", "now", "env", "range", "dict",
        "lipsum", "cycler", "joiner", "namespace", "loop", "caller", "varargs", "kwargs",
        "true", "false", "none", "True", "False", "None",
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


Analysis = tuple[str | None, frozenset[str], frozenset[tuple[str, str]]]
NAMESPACES = ("parameters", "vars")


def _free_names(ast: nodes.Template) -> frozenset[str]:
    """Names read but never bound in the template (a set/for/macro binding
    anywhere counts: lenient, and much cheaper than jinja2.meta's compiler pass)."""
    loads: set[str] = set()
    stores: set[str] = set()
    for name in ast.find_all(nodes.Name):
        (loads if name.ctx == "load" else stores).add(name.name)
    return frozenset(loads - stores)


def _namespace_refs(ast: nodes.Template) -> frozenset[tuple[str, str]]:
    """`parameters.x`, `vars['y']` → {("parameters", "x"), ("vars", "y")}."""
    refs: set[tuple[str, str]] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        base = getattr(node, "node", None)
        if not (isinstance(base, nodes.Name) and base.name in NAMESPACES):
            continue
        if isinstance(node, nodes.Getattr):
            refs.add((base.name, node.attr))
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            refs.add((base.name, node.arg.value))
    return frozenset(refs)


CACHED_TEMPLATE_CHARS = 2048  # longer templates are not cached: the cache must stay small


def analyse(text: str) -> Analysis:
    """(syntax error or None, undeclared names, (namespace, attribute) references)."""
    return _analyse_cached(text) if len(text) <= CACHED_TEMPLATE_CHARS else _analyse(text)


@lru_cache(maxsize=4096)
def _analyse_cached(text: str) -> Analysis:
    return _analyse(text)


def _analyse(text: str) -> Analysis:
    if _nesting(text) > MAX_TEMPLATE_NESTING:
        return (
            f"template nests deeper than {MAX_TEMPLATE_NESTING} brackets: simplify it",
            frozenset(),
            frozenset(),
        )
    try:
        ast = _ENV.parse(text)
        return None, _free_names(ast), _namespace_refs(ast)
    except jinja2.TemplateSyntaxError as exc:
        where = f" (template line {exc.lineno})" if exc.lineno and exc.lineno > 1 else ""
        return f"Jinja2 syntax error: {exc.message}{where}", frozenset(), frozenset()
    except (RecursionError, MemoryError):
        return "template is too complex to parse: simplify it", frozenset(), frozenset()


def template_strings(root: YNode) -> Iterator[YScalar]:
    """Every string scalar that looks like a template, outside never-rendered places."""
    stack: list[YNode] = [root]
    while stack:
        current = stack.pop()
        if isinstance(current, YMap):
            skipped = SKIPPED_TOP_KEYS if current is root else SKIPPED_KEYS
            for key, (_, value) in current.items.items():
                if key not in skipped:
                    stack.append(value)
        elif isinstance(current, YSeq):
            stack.extend(current.items)
        elif (
            isinstance(current, YScalar)
            and isinstance(current.value, str)
            and is_template(current.value)
        ):
            yield current


def check_templates(
    root: YNode, defined: set[str], namespaces: dict[str, set[str]], rep: Reporter
) -> None:
    """`namespaces`: the names `parameters.` and `vars.` may be followed by."""
    known = defined | CONTEXT_NAMES
    for scalar in sorted(template_strings(root), key=lambda n: (n.line, n.column)):
        problem, names, refs = analyse(str(scalar.value))
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
                f"published name or task){rep.suggest(name, defined)}",
                scalar,
            )
        for namespace, attr in sorted(refs):
            members = namespaces.get(namespace, set())
            if attr not in members and not rep.full:
                rep.warning(
                    "undefined-variable",
                    f"template uses {namespace}.{attr}, but there is no {namespace[:-1]} "
                    f"{attr!r}{rep.suggest(attr, members)}",
                    scalar,
                )
