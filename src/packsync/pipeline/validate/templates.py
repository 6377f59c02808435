"""Template checks: every `{{ }}` is parsed with Attune's expression grammar
(expression.py), then its functions and names are checked against what
Attune's executor resolves. Nothing is evaluated.

Attune renders `{{ expr }}` in task input, `with_items`, `when`, transition
`when`/`publish`, `output_map` and the placement fields; a `when` may also be a
bare expression (`when: succeeded()`). There are no `{% %}` blocks, `{# #}`
comments or `| filter` pipes: Attune would print them as text, so they are
errors. Each problem is located at the offending token inside the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from packsync.pipeline.validate import expression as ex
from packsync.pipeline.validate.report import Reporter, did_you_mean
from packsync.pipeline.validate.structure import CHART_META, LEGACY_TRANSITIONS, canonical
from packsync.pipeline.yamlsafe import YMap, YNode, YScalar, YSeq

SKIPPED_TOP_KEYS = frozenset(
    {"parameters", "output", "description", "label", "version", "ref", "tags", "name"}
)
TRANSITION_KEYS = frozenset({"next", "decision", *LEGACY_TRANSITIONS})
# Names from other engines, with the Attune spelling to use instead.
FUNCTION_HINTS = {
    "now": "there is no clock function: use system.workflow_start, or pass the time in",
    "uuid": "generate the id in an action and publish it",
    "completed": "leave 'when' out for a transition on any outcome",
    "len": "use length(x)",
    "str": "use string(x)",
    "float": "use number(x)",
    "default": "test with 'x != null' or 'in'",
    "to_json": "values keep their type in a '{{ x }}' string",
    "from_json": "values keep their type in a '{{ x }}' string",
    "st2kv": "use keystore.<name>",
    "task_status": "use succeeded(), failed() or timed_out() in the task's transitions",
}
BLOCK_MARKERS = {
    "{%": "Attune has no '{% %}' blocks: use a condition ('when') or an expression in '{{ }}'",
    "{#": "Attune has no '{# #}' comments: use a YAML comment",
    "<%": "'<% %>' is YAQL (StackStorm Orquesta), not Attune's language: write '{{ expr }}'",
}


@dataclass(slots=True)
class Names:
    """What a workflow declares: what templates may refer to."""

    parameters: set[str] = field(default_factory=set)
    has_parameters: bool = False
    variables: set[str] = field(default_factory=set)  # vars and published names
    tasks: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Site:
    """One string Attune renders: is it a condition, is `item` in scope there."""

    scalar: YScalar
    condition: bool
    in_items: bool
    transition: bool = False  # a transition's `when`: the executor classifies it


def sites(root: YMap) -> Iterator[Site]:
    for key, (_, value) in root.items.items():
        canon = canonical(key)
        if canon == "tasks":
            yield from _task_sites(value)
        elif canon not in SKIPPED_TOP_KEYS and canon != "vars":
            yield from _value_sites(value, False, False)


def check_vars_not_rendered(root: YMap, rep: Reporter) -> None:
    """Attune's executor seeds `vars` as written: a '{{ }}' there is never evaluated."""
    node = next((v for k, (_, v) in root.items.items() if canonical(k) == "vars"), None)
    for site in _value_sites(node, False, False) if node is not None else ():
        if "{{" in str(site.scalar.value):
            rep.warning(
                "template-in-vars",
                "Attune does not render 'vars': this '{{ }}' stays text; publish the value "
                "from the first task instead",
                site.scalar,
            )


def _task_sites(tasks: YNode) -> Iterator[Site]:
    entries = (
        [v for _, v in tasks.items.values()]
        if isinstance(tasks, YMap)
        else tasks.items
        if isinstance(tasks, YSeq)
        else []
    )
    for task in entries:
        if not isinstance(task, YMap):
            continue
        in_items = any(canonical(k) == "with_items" for k in task.items)
        for key, (_, value) in task.items.items():
            canon = canonical(key)
            if canon == "tasks":
                yield from _task_sites(value)
            elif canon == "when":
                yield from _value_sites(value, True, in_items)
            elif canon in TRANSITION_KEYS:
                yield from _transition_sites(value, in_items)
            elif canon == "with_items":
                yield from _value_sites(value, False, False)
            elif canon not in ("name", "type", CHART_META):
                yield from _value_sites(value, False, in_items)


def _transition_sites(node: YNode, in_items: bool) -> Iterator[Site]:
    for item in node.items if isinstance(node, YSeq) else []:
        if not isinstance(item, YMap):
            continue
        for key, (_, value) in item.items.items():
            canon = canonical(key)
            if canon == "when":
                for site in _value_sites(value, True, in_items):
                    yield Site(site.scalar, True, in_items, transition=True)
            elif canon == "publish":
                yield from _value_sites(value, False, in_items)


def _value_sites(node: YNode, condition: bool, in_items: bool) -> Iterator[Site]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, YScalar):
            value = current.value
            if isinstance(value, str) and (condition or "{" in value or "<%" in value):
                yield Site(current, condition, in_items)
        elif isinstance(current, YSeq):
            stack.extend(reversed(current.items))
        elif isinstance(current, YMap):
            stack.extend(reversed([v for k, (_, v) in current.items.items() if k != CHART_META]))


@dataclass(frozen=True, slots=True)
class Problem:
    offset: int  # in the string's value
    code: str
    message: str
    warning: bool = False


def expressions(text: str) -> Iterator[tuple[int, str | None]]:
    """(offset of the inner text, inner text) for each `{{ … }}`, as Attune cuts
    them (from `{{` to the first `}}`); None for a `{{` never closed."""
    start = 0
    while (open_at := text.find("{{", start)) >= 0:
        close = text.find("}}", open_at + 2)
        if close < 0:
            yield open_at, None
            return
        yield open_at + 2, text[open_at + 2 : close]
        start = close + 2


_TRIM = "".join(sorted(ex.WHITESPACE))


def _strip(inner: str) -> tuple[int, str]:
    """Rust's str::trim: (leading whitespace length, trimmed text)."""
    lead = len(inner) - len(inner.lstrip(_TRIM))
    return lead, inner.strip(_TRIM)


@lru_cache(maxsize=4096)
def parsed(text: str) -> tuple[ex.Node, ...] | ex.ExpressionError:
    """The nodes the name checks look at (calls, members, names), or the syntax error.
    Cached per text: big workflows repeat the same expressions."""
    try:
        tree = ex.parse(text)
    except ex.ExpressionError as exc:
        return exc
    kinds = (ex.Call, ex.Ident, ex.Dot, ex.Index)
    return tuple(n for n in ex.walk(tree) if isinstance(n, kinds))


def syntax_problems(text: str, condition: bool) -> Iterator[tuple[int, str | tuple[ex.Node, ...]]]:
    """(offset, syntax message or the expression's nodes) for each expression of a string."""
    for marker, message in BLOCK_MARKERS.items():
        at = text.find(marker)
        if at >= 0:
            yield at, message
            return
    if condition and "{{" not in text:
        lead, body = _strip(text)
        if body:
            tree = parsed(body)
            if isinstance(tree, ex.ExpressionError):
                yield (
                    lead + tree.pos,
                    f"condition {body!r} is not an expression: {tree.message} "
                    "(Attune would take the text as always true)",
                )
            else:
                yield lead, tree
        return
    for offset, inner in expressions(text):
        if inner is None:
            yield offset, "'{{' is never closed with '}}'"
            continue
        lead, body = _strip(inner)
        if not body:
            yield offset - 2, "empty '{{ }}': write an expression or remove the braces"
            continue
        tree = parsed(body)
        if isinstance(tree, ex.ExpressionError):
            yield offset + lead + tree.pos, f"{tree.message}"
        else:
            yield offset + lead, tree


def name_problems(
    nodes: tuple[ex.Node, ...], base: int, site: Site, names: Names
) -> Iterator[Problem]:
    for node in nodes:
        if isinstance(node, ex.Call):
            yield from _call_problem(node, base)
            continue
        ref = ex.member(node)
        if ref is not None:
            yield from _member_problem(ref, base, names)
        if isinstance(node, ex.Ident):
            yield from _ident_problem(node, base, site, names)


def _call_problem(node: ex.Call, base: int) -> Iterator[Problem]:
    if node.name not in ex.FUNCTIONS:
        hint = FUNCTION_HINTS.get(node.name)
        if hint is None:
            hint = did_you_mean(node.name, ex.FUNCTIONS).strip(" ()") or (
                "see the built-in functions in docs/workflow-format.md"
            )
        yield Problem(
            base + node.pos, "unknown-function", f"{node.name}() is not an Attune function: {hint}"
        )
        return
    counts = ex.BUILTINS.get(node.name)
    if counts is not None and len(node.args) not in counts:
        want = " or ".join(map(str, counts))
        yield Problem(
            base + node.pos,
            "function-args",
            f"{node.name}() takes {want} argument(s), not {len(node.args)}",
        )


def _member_problem(ref: tuple[str, str, int], base: int, names: Names) -> Iterator[Problem]:
    root, name, pos = ref
    root = ex.ALIASES.get(root, root)
    if root == "task" and name not in names.tasks:
        yield Problem(
            base + pos,
            "unknown-task-ref",
            f"task.{name} names no task of this workflow{did_you_mean(name, names.tasks)}",
        )
    elif root == "workflow" and name not in names.variables:
        yield Problem(
            base + pos,
            "undefined-variable",
            f"workflow variable {name!r} is never declared in 'vars' or published"
            f"{did_you_mean(name, names.variables)}",
            warning=True,
        )
    elif root == "parameters" and names.has_parameters and name not in names.parameters:
        yield Problem(
            base + pos,
            "undefined-variable",
            f"parameters.{name}: no parameter {name!r} is declared"
            f"{did_you_mean(name, names.parameters)}",
            warning=True,
        )


def _ident_problem(node: ex.Ident, base: int, site: Site, names: Names) -> Iterator[Problem]:
    name = node.name
    if name in ("item", "index"):
        if not site.in_items:
            yield Problem(
                base + node.pos,
                "item-outside-with-items",
                f"{name!r} only exists inside a task with 'with_items' (in its input, "
                "conditions and publish), not here",
            )
        return
    if name in ex.NAMESPACES or name in ex.ALIASES or name in names.variables:
        return
    if name in names.parameters:
        hint = f"a parameter is read as parameters.{name}"
    elif name in names.tasks:
        hint = f"a task's result is read as task.{name}.result (or result() in its transitions)"
    elif name in ex.FUNCTIONS:
        hint = f"call it: {name}()"
    else:
        near = did_you_mean(name, names.variables | ex.NAMESPACES).strip(" ()")
        hint = near or "declare it in 'vars', publish it, or use a namespace such as parameters."
    yield Problem(
        base + node.pos,
        "unknown-variable",
        f"{name!r} is neither a namespace ({', '.join(sorted(ex.NAMESPACES))}) nor a "
        f"workflow variable: {hint}",
    )


OUTCOMES = ("succeeded()", "failed()", "timed_out()")


def outcome_shortcut(text: str) -> str | None:
    """graph.rs GraphTransition::kind: a `when` mentioning succeeded()/failed()/
    timed_out() anywhere is taken as that outcome alone; the call it found, when
    the condition says more than that."""
    flat = "".join(text.lower().split())
    bare = flat.removeprefix("{{").removesuffix("}}")
    for call in OUTCOMES:
        if call in flat:
            return None if bare == call else call
    return None


def site_problems(site: Site, names: Names) -> Iterator[Problem]:
    text = str(site.scalar.value)
    clean = True
    for offset, result in syntax_problems(text, site.condition):
        if isinstance(result, str):
            clean = False
            yield Problem(offset, "template-syntax", result)
        else:
            yield from name_problems(result, offset, site, names)
    call = outcome_shortcut(text) if site.transition and clean else None
    if call is not None:
        yield Problem(
            0,
            "condition-ignored",
            f"Attune's executor runs a transition whose condition mentions {call} on that "
            f"outcome alone: the rest of {text.strip()!r} is ignored (so 'not {call}' "
            "fires on it too). Keep the condition to the outcome, and test the rest in a "
            "follow-up task or a separate transition",
            warning=True,
        )


def check_templates(root: YMap, names: Names, rep: Reporter) -> None:
    check_vars_not_rendered(root, rep)
    for site in sorted(sites(root), key=lambda s: (s.scalar.line, s.scalar.column)):
        for problem in site_problems(site, names):
            if rep.full:
                rep.add_at_offset(problem.code, "", site.scalar, 0, warning=problem.warning)
                continue
            rep.add_at_offset(
                problem.code, problem.message, site.scalar, problem.offset, warning=problem.warning
            )
