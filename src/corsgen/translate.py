"""A template's jinja2 syntax tree as Python source: text, values, filters, for, if, with,
include and macros, which is all a template that only loops and interpolates needs.

Each template becomes `def template_N(ctx, out)`, appending its text to `out`; a macro, a nested
function returning its text. Names a template binds become Python variables, and any other name is
read from `ctx`, as jinja2 reads its context. jinja2 has parsed the template, so the whitespace and
comments are already as it renders them. Anything else raises Unsupported, and the template (and
any that includes it) is left to jinja2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping

import jinja2
from jinja2 import nodes
from jinja2.compiler import operators


class Unsupported(Exception):
    """A template uses something beyond looping and interpolating: jinja2 renders it."""


def translate(env: jinja2.Environment, filters: Collection[str], names: list[str]) -> str:
    """Python source defining a function for each of the templates that translates, and
    FUNCTIONS, their names to them."""
    translator = _Translator(env, filters)
    for name in names:
        with contextlib.suppress(Unsupported):
            translator.template(name)
    table = ", ".join(f"{name!r}: {function}" for name, function in translator.done.items())
    return "\n".join([*translator.lines, f"FUNCTIONS = {{{table}}}", ""])


# A scope: each name a template binds (a loop variable, a `with` name, a macro and its
# parameters) to the Python variable that holds it. Any other name is read from the context.
Scope = Mapping[str, str]


class _Translator:
    def __init__(self, env: jinja2.Environment, filters: Collection[str]) -> None:
        self.env = env
        self.filters = filters
        self.lines: list[str] = []
        self.done: dict[str, str] = {}  # template name to its function
        self.started: dict[str, str] = {}
        self.failed: set[str] = set()
        self.count = 0

    def fresh(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.count}"

    def template(self, name: str) -> str:
        """The name of the function for this template, translating it (and what it includes)."""
        if name in self.failed:
            raise Unsupported(name)
        if name in self.started:
            return self.started[name]
        function = self.started[name] = self.fresh("template")
        try:
            assert self.env.loader is not None
            source = self.env.loader.get_source(self.env, name)[0]
            body = self.block(self.env.parse(source, name).body, {}, "    ")
        except (Unsupported, jinja2.TemplateError):
            self.failed.add(name)
            del self.started[name]
            raise Unsupported(name) from None
        self.lines += [f"def {function}(ctx, out):", "    w = out.append", *body]
        self.done[name] = function
        return function

    def block(self, body: list[nodes.Node], scope: Scope, indent: str) -> list[str]:
        lines: list[str] = []
        for node in body:
            scope = self.statement(node, scope, indent, lines)
        return lines or [indent + "pass"]

    def statement(self, node: nodes.Node, scope: Scope, indent: str, lines: list[str]) -> Scope:
        """Append the Python for one statement; return the scope for the statements after it."""
        inner = indent + "    "
        if isinstance(node, nodes.Output):
            for part in node.nodes:
                if isinstance(part, nodes.TemplateData):
                    lines.append(f"{indent}w({part.data!r})")
                else:
                    lines.append(f"{indent}w(str({self.expr(part, scope)}))")
        elif isinstance(node, nodes.For):
            if node.else_ or node.test is not None or node.recursive:
                raise Unsupported("for with else, a filter or recursion")
            if any(name.name == "loop" for name in node.find_all(nodes.Name)):
                raise Unsupported("the loop variable")
            items = self.expr(node.iter, scope)
            target, scope_in = self.target(node.target, scope)
            lines.append(f"{indent}for {target} in {items}:")
            lines += self.block(node.body, scope_in, inner)
        elif isinstance(node, nodes.If):
            keyword = "if"
            while True:
                lines.append(f"{indent}{keyword} {self.expr(node.test, scope)}:")
                lines += self.block(node.body, scope, inner)
                if not node.elif_:
                    break
                keyword, node = (
                    "elif",
                    nodes.If(node.elif_[0].test, node.elif_[0].body, node.elif_[1:], node.else_),
                )
            if node.else_:
                lines.append(f"{indent}else:")
                lines += self.block(node.else_, scope, inner)
        elif isinstance(node, nodes.With):
            bound = dict(scope)
            for bind, value in zip(node.targets, node.values, strict=True):
                if not isinstance(bind, nodes.Name):
                    raise Unsupported("with unpacking")
                variable = self.fresh("var")
                lines.append(f"{indent}{variable} = {self.expr(value, scope)}")
                bound[bind.name] = variable
            lines += self.block(node.body, bound, indent)
        elif isinstance(node, nodes.Include):
            if not isinstance(node.template, nodes.Const) or node.ignore_missing:
                raise Unsupported("include of a computed or optional template")
            function = self.template(node.template.value)
            # jinja2 hands the included template the context and every local name in scope.
            local = "".join(f", {name!r}: {variable}" for name, variable in scope.items())
            context = f"{{**ctx{local}}}" if node.with_context else "{}"
            lines.append(f"{indent}{function}({context}, out)")
        elif isinstance(node, nodes.Macro):
            if node.defaults or any(
                n.name in ("caller", "varargs", "kwargs") for n in node.find_all(nodes.Name)
            ):
                raise Unsupported("macro defaults, caller, varargs or kwargs")
            function = self.fresh("macro")
            scope = {**scope, node.name: function}
            params = {arg.name: self.fresh("var") for arg in node.args}
            lines.append(f"{indent}def {function}({', '.join(params.values())}):")
            lines += [f"{inner}out = []", f"{inner}w = out.append"]
            lines += self.block(node.body, {**scope, **params}, inner)
            lines.append(f'{inner}return "".join(out)')
        else:
            raise Unsupported(type(node).__name__)
        return scope

    def target(self, node: nodes.Node, scope: Scope) -> tuple[str, Scope]:
        """A loop's target as Python, and the scope with its names bound."""
        names = node.items if isinstance(node, nodes.Tuple) else [node]
        if not all(isinstance(name, nodes.Name) for name in names):
            raise Unsupported("nested loop targets")
        variables = {name.name: self.fresh("var") for name in names}  # type: ignore[attr-defined]
        target = ", ".join(variables.values())
        return (f"({target},)" if isinstance(node, nodes.Tuple) else target), {
            **scope,
            **variables,
        }

    def expr(self, node: nodes.Node, scope: Scope) -> str:
        if isinstance(node, nodes.Const) and isinstance(node.value, str | int | float | None):
            return repr(node.value)
        if isinstance(node, nodes.Name):
            if node.name in scope:
                return scope[node.name]
            if node.name in self.env.globals:
                raise Unsupported(f"jinja2's global {node.name}")
            return f"ctx[{node.name!r}]"
        if isinstance(node, nodes.Getattr):
            return f"_attr({self.expr(node.node, scope)}, {node.attr!r})"
        if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Slice):
            return f"_item({self.expr(node.node, scope)}, {self.expr(node.arg, scope)})"
        if isinstance(node, nodes.Filter) and node.node is not None and node.name in self.filters:
            if node.kwargs or node.dyn_args or node.dyn_kwargs:
                raise Unsupported("filter keywords")
            args = "".join(", " + self.expr(arg, scope) for arg in node.args)
            return f"_filters[{node.name!r}]({self.expr(node.node, scope)}{args})"
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
            if node.node.name not in scope or node.kwargs or node.dyn_args or node.dyn_kwargs:
                raise Unsupported("a call of anything but a macro")
            args = ", ".join(self.expr(arg, scope) for arg in node.args)
            return f"{scope[node.node.name]}({args})"
        if isinstance(node, nodes.Not):
            return f"(not {self.expr(node.node, scope)})"
        if isinstance(node, nodes.And | nodes.Or):
            op = "and" if isinstance(node, nodes.And) else "or"
            return f"({self.expr(node.left, scope)} {op} {self.expr(node.right, scope)})"
        if isinstance(node, nodes.Compare):
            ops = "".join(f" {operators[o.op]} {self.expr(o.expr, scope)}" for o in node.ops)
            return f"({self.expr(node.expr, scope)}{ops})"
        if isinstance(node, nodes.CondExpr) and node.expr2 is not None:
            test, yes, no = (self.expr(n, scope) for n in (node.test, node.expr1, node.expr2))
            return f"({yes} if {test} else {no})"
        if isinstance(node, nodes.Concat):
            return '"".join((' + "".join(f"str({self.expr(n, scope)}), " for n in node.nodes) + "))"
        if isinstance(node, nodes.Tuple | nodes.List):
            items = "".join(self.expr(item, scope) + ", " for item in node.items)
            return f"({items})" if isinstance(node, nodes.Tuple) else f"[{items}]"
        raise Unsupported(type(node).__name__)
